//! The `drive` import over local directories: `drive_core::local` (shared with the `drive-fs`
//! component) does the file work; this module runs it on tokio's blocking pool, never on the
//! threads that serve requests, maps it onto the WIT resources, and keeps each drive's health:
//! a drive that fails and then fails a probe is offline (calls fail at once, without touching
//! it) until a background probe finds it working again.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use drive_core::local::{Fault, LocalDrive, OpenFile, PendingFile, TEMP_DIR};
use tokio::sync::Notify;
use wasmtime::component::{HasSelf, Resource, ResourceTableError};

use crate::bindings::drive::{self, DirEntry, DriveError, DriveUsage, FileInfo};
use crate::runtime::State;

/// How often offline drives are probed.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// One drive and its health.
pub struct DriveSlot {
    drive: LocalDrive,
    /// Why the drive is offline; `None` while it is online.
    offline: Mutex<Option<String>>,
}

impl DriveSlot {
    fn offline_reason(&self) -> Option<String> {
        self.offline.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn set_offline(&self, reason: Option<String>) {
        *self.offline.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = reason;
    }

    /// Runs one operation, unless the drive is offline; a fault that a probe confirms takes
    /// the drive offline (a one-off error — a full disk for one file — does not).
    fn run<T>(&self, op: impl FnOnce(&LocalDrive) -> Result<T, Fault>) -> Result<T, Fault> {
        if let Some(reason) = self.offline_reason() {
            return Err(Fault::Faulty(format!("drive offline: {reason}")));
        }
        let result = op(&self.drive);
        if let Err(Fault::Faulty(why)) = &result {
            self.check_after_fault(why);
        }
        result
    }

    fn check_after_fault(&self, why: &str) {
        if let Err(probe) = probe(self.drive.root()) {
            tracing::error!(drive = self.drive.label(), error = why, probe = %probe, "drive taken offline");
            self.set_offline(Some(probe));
        }
    }
}

/// Whether a drive works: its folder is there, and a file can be written, synced and removed
/// in its temp area.
fn probe(root: &Path) -> Result<(), String> {
    if !root.is_dir() {
        return Err(format!("{} is not a directory", root.display()));
    }
    let temp = root.join(TEMP_DIR);
    fs::create_dir_all(&temp).map_err(|error| format!("creating {}: {error}", temp.display()))?;
    // Each probe its own file: two probes at once must not remove each other's.
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let file = temp.join(format!(".probe-{}", PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let written = fs::write(&file, b"probe").and_then(|()| fs::File::open(&file)?.sync_all());
    let _ = fs::remove_file(&file);
    written.map_err(|error| format!("writing {}: {error}", file.display()))
}

/// The drives of this node, shared by every request.
#[derive(Clone)]
pub struct DriveSet {
    drives: Arc<Vec<Arc<DriveSlot>>>,
    /// Signalled when an offline drive comes back: what was written meanwhile needs healing.
    returned: Arc<Notify>,
}

impl DriveSet {
    /// Opens (creating when needed) each drive folder and empties its temp area: whatever is
    /// there was left by a crash and was never visible. A folder that cannot be opened is an
    /// offline drive, not a reason to refuse to start: the others serve meanwhile.
    pub fn open(paths: &[PathBuf]) -> Result<Self> {
        let mut drives = Vec::with_capacity(paths.len());
        for path in paths {
            let (root, offline) = match prepare(path) {
                Ok(root) => (root, None),
                Err(why) => {
                    tracing::error!(drive = %path.display(), error = %why, "drive offline at start");
                    (std::path::absolute(path).unwrap_or_else(|_| path.clone()), Some(why))
                }
            };
            let drive = LocalDrive::new(path.display().to_string(), root);
            drives.push(Arc::new(DriveSlot { drive, offline: Mutex::new(offline) }));
        }
        Ok(Self { drives: Arc::new(drives), returned: Arc::new(Notify::new()) })
    }

    /// No drives: for components that never touch one (erasure engines, benches).
    pub fn none() -> Self {
        Self { drives: Arc::new(Vec::new()), returned: Arc::new(Notify::new()) }
    }

    /// Resolves when an offline drive has come back online.
    pub async fn drive_returned(&self) {
        self.returned.notified().await
    }

    /// Probes the offline drives every couple of seconds and brings back those that work.
    pub fn spawn_prober(&self) {
        let set = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(PROBE_INTERVAL);
            loop {
                ticks.tick().await;
                for slot in set.drives.iter().filter(|slot| slot.offline_reason().is_some()).cloned().collect::<Vec<_>>() {
                    let root = slot.drive.root().to_path_buf();
                    if let Ok(Ok(())) = tokio::task::spawn_blocking(move || probe(&root)).await {
                        tracing::info!(drive = slot.drive.label(), "drive back online");
                        slot.set_offline(None);
                        set.returned.notify_one();
                    }
                }
            }
        });
    }
}

/// Creates a drive folder when missing and empties its temp area.
fn prepare(path: &Path) -> Result<PathBuf, String> {
    fs::create_dir_all(path).map_err(|error| format!("creating {}: {error}", path.display()))?;
    let root = path.canonicalize().map_err(|error| format!("resolving {}: {error}", path.display()))?;
    let temp = root.join(TEMP_DIR);
    if temp.exists() {
        let stale = fs::read_dir(&temp).map(|entries| entries.count()).unwrap_or(0);
        if stale > 0 {
            tracing::info!(drive = %root.display(), stale, "removing temp files left by an earlier run");
        }
        fs::remove_dir_all(&temp).map_err(|error| format!("cleaning {}: {error}", temp.display()))?;
    }
    probe(&root)?;
    Ok(root)
}

/// The host value behind a guest's `drive` handle.
pub struct DriveHandle(Arc<DriveSlot>);

/// The host value behind a guest's `writer` handle.
pub struct WriterHandle {
    slot: Arc<DriveSlot>,
    pending: Arc<Mutex<PendingFile>>,
}

/// The host value behind a guest's `reader` handle.
pub struct ReaderHandle {
    slot: Arc<DriveSlot>,
    file: Arc<OpenFile>,
}

/// A drive call's failure: a domain error for the guest, or a host bug that traps.
#[derive(Debug)]
pub enum HostDriveError {
    Drive(DriveError),
    Trap(wasmtime::Error),
}

drive_core::fault_into_drive_error!(DriveError);

impl From<Fault> for HostDriveError {
    fn from(fault: Fault) -> Self {
        Self::Drive(fault.into())
    }
}

impl From<ResourceTableError> for HostDriveError {
    fn from(error: ResourceTableError) -> Self {
        Self::Trap(error.into())
    }
}

type DriveResult<T> = Result<T, HostDriveError>;

/// Space on the drive's file system (statvfs).
fn usage(drive: &LocalDrive) -> Result<DriveUsage, Fault> {
    let path =
        std::ffi::CString::new(drive.root().as_os_str().as_encoded_bytes()).map_err(|_| Fault::InvalidPath("root has NUL".into()))?;
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid C string and `stats` a valid out-pointer for the call.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return Err(Fault::Faulty(std::io::Error::last_os_error().to_string()));
    }
    if !drive.root().is_dir() {
        return Err(Fault::Faulty(format!("{} is not a directory", drive.root().display())));
    }
    let block = stats.f_frsize as u64;
    Ok(DriveUsage { total_bytes: stats.f_blocks as u64 * block, free_bytes: stats.f_bavail as u64 * block })
}

fn entries(listed: Vec<drive_core::local::Entry>) -> Vec<DirEntry> {
    listed.into_iter().map(|entry| DirEntry { name: entry.name, is_dir: entry.is_dir }).collect()
}

/// Runs blocking file I/O on the blocking pool.
async fn blocking<T: Send + 'static>(op: impl FnOnce() -> Result<T, Fault> + Send + 'static) -> DriveResult<T> {
    Ok(tokio::task::spawn_blocking(op).await.map_err(|error| HostDriveError::Trap(error.into()))??)
}

/// Runs one drive operation on the blocking pool, through the drive's health check.
async fn on_drive<T: Send + 'static>(
    slot: Arc<DriveSlot>,
    op: impl FnOnce(&LocalDrive) -> Result<T, Fault> + Send + 'static,
) -> DriveResult<T> {
    blocking(move || slot.run(op)).await
}

/// Waits for drive tasks that already run in parallel, keeping their order; a host failure in
/// any of them traps.
async fn join_in_order(tasks: Vec<tokio::task::JoinHandle<Result<(), Fault>>>) -> wasmtime::Result<Vec<Result<(), DriveError>>> {
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await?.map_err(DriveError::from));
    }
    Ok(results)
}

impl State {
    fn drive_slot(&self, handle: &Resource<DriveHandle>) -> DriveResult<Arc<DriveSlot>> {
        Ok(self.table.get(handle)?.0.clone())
    }

    fn pending_file(&self, handle: &Resource<WriterHandle>) -> DriveResult<(Arc<DriveSlot>, Arc<Mutex<PendingFile>>)> {
        let writer = self.table.get(handle)?;
        Ok((writer.slot.clone(), writer.pending.clone()))
    }
}

fn lock(file: &Mutex<PendingFile>) -> std::sync::MutexGuard<'_, PendingFile> {
    // A panic while holding the lock cannot leave a PendingFile half-updated in a way that
    // matters (the worst is a temp file cleaned at the next start), so poisoning is ignored.
    file.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl drive::Host for State {
    async fn drives(&mut self) -> wasmtime::Result<Vec<Resource<DriveHandle>>> {
        let slots: Vec<Arc<DriveSlot>> = self.drives.drives.iter().cloned().collect();
        slots.into_iter().map(|slot| Ok(self.table.push(DriveHandle(slot))?)).collect()
    }

    async fn commit_all(&mut self, writers: Vec<Resource<WriterHandle>>) -> wasmtime::Result<Vec<Result<(), DriveError>>> {
        let mut commits = Vec::with_capacity(writers.len());
        for writer in &writers {
            let writer = self.table.get(writer)?;
            let (slot, pending) = (writer.slot.clone(), writer.pending.clone());
            commits.push(tokio::task::spawn_blocking(move || slot.run(|_| lock(&pending).commit())));
        }
        join_in_order(commits).await
    }

    async fn write_file_all(
        &mut self,
        writes: Vec<(Resource<DriveHandle>, String, Vec<u8>)>,
    ) -> wasmtime::Result<Vec<Result<(), DriveError>>> {
        let mut tasks = Vec::with_capacity(writes.len());
        for (drive, path, data) in writes {
            let slot = self.table.get(&drive)?.0.clone();
            tasks.push(tokio::task::spawn_blocking(move || slot.run(|drive| drive.write_file(&path, &data))));
        }
        join_in_order(tasks).await
    }

    fn convert_drive_error(&mut self, error: HostDriveError) -> wasmtime::Result<DriveError> {
        match error {
            HostDriveError::Drive(error) => Ok(error),
            HostDriveError::Trap(trap) => Err(trap),
        }
    }
}

impl drive::HostDrive for State {
    fn label(&mut self, handle: Resource<DriveHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&handle)?.0.drive.label().to_owned())
    }

    async fn usage(&mut self, handle: Resource<DriveHandle>) -> DriveResult<DriveUsage> {
        on_drive(self.drive_slot(&handle)?, usage).await
    }

    async fn read_file(&mut self, handle: Resource<DriveHandle>, path: String, max_bytes: u32) -> DriveResult<Vec<u8>> {
        let slot = self.drive_slot(&handle)?;
        on_drive(slot, move |drive| drive.read_file(&path, max_bytes)).await
    }

    async fn read_range(&mut self, handle: Resource<DriveHandle>, path: String, offset: u64, length: u32) -> DriveResult<Vec<u8>> {
        let slot = self.drive_slot(&handle)?;
        on_drive(slot, move |drive| drive.read_range(&path, offset, length)).await
    }

    async fn write_file(&mut self, handle: Resource<DriveHandle>, path: String, data: Vec<u8>) -> DriveResult<()> {
        let slot = self.drive_slot(&handle)?;
        on_drive(slot, move |drive| drive.write_file(&path, &data)).await
    }

    async fn create_file(&mut self, handle: Resource<DriveHandle>, path: String) -> DriveResult<Resource<WriterHandle>> {
        let slot = self.drive_slot(&handle)?;
        let pending = on_drive(slot.clone(), move |drive| drive.create_file(&path)).await?;
        Ok(self.table.push(WriterHandle { slot, pending: Arc::new(Mutex::new(pending)) })?)
    }

    async fn rename(&mut self, handle: Resource<DriveHandle>, source: String, destination: String) -> DriveResult<()> {
        let slot = self.drive_slot(&handle)?;
        on_drive(slot, move |drive| drive.rename(&source, &destination)).await
    }

    async fn delete(&mut self, handle: Resource<DriveHandle>, path: String, recursive: bool) -> DriveResult<()> {
        let slot = self.drive_slot(&handle)?;
        on_drive(slot, move |drive| drive.delete(&path, recursive)).await
    }

    async fn prune_empty_dirs(&mut self, handle: Resource<DriveHandle>, path: String, stop_at: String) -> DriveResult<()> {
        let slot = self.drive_slot(&handle)?;
        on_drive(slot, move |drive| drive.prune_empty_dirs(&path, &stop_at)).await
    }

    async fn make_dir(&mut self, handle: Resource<DriveHandle>, path: String) -> DriveResult<()> {
        let slot = self.drive_slot(&handle)?;
        on_drive(slot, move |drive| drive.make_dir(&path)).await
    }

    async fn list_dir(&mut self, handle: Resource<DriveHandle>, path: String) -> DriveResult<Vec<DirEntry>> {
        let slot = self.drive_slot(&handle)?;
        on_drive(slot, move |drive| drive.list_dir(&path)).await.map(entries)
    }

    async fn stat(&mut self, handle: Resource<DriveHandle>, path: String) -> DriveResult<FileInfo> {
        let slot = self.drive_slot(&handle)?;
        let info = on_drive(slot, move |drive| drive.stat(&path)).await?;
        Ok(FileInfo { size: info.size, is_dir: info.is_dir, modified_ms: info.modified_ms })
    }

    async fn open_file(&mut self, handle: Resource<DriveHandle>, path: String) -> DriveResult<Resource<ReaderHandle>> {
        let slot = self.drive_slot(&handle)?;
        let file = on_drive(slot.clone(), move |drive| drive.open_file(&path)).await?;
        Ok(self.table.push(ReaderHandle { slot, file: Arc::new(file) })?)
    }

    async fn drop(&mut self, handle: Resource<DriveHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl drive::HostReader for State {
    fn size(&mut self, handle: Resource<ReaderHandle>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&handle)?.file.size())
    }

    async fn read_at(&mut self, handle: Resource<ReaderHandle>, offset: u64, length: u32) -> DriveResult<Vec<u8>> {
        let reader = self.table.get(&handle)?;
        let (slot, file) = (reader.slot.clone(), reader.file.clone());
        on_drive(slot, move |_| file.read_at(offset, length)).await
    }

    async fn drop(&mut self, handle: Resource<ReaderHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl drive::HostWriter for State {
    async fn append(&mut self, handle: Resource<WriterHandle>, data: Vec<u8>) -> DriveResult<()> {
        let (slot, pending) = self.pending_file(&handle)?;
        on_drive(slot, move |_| lock(&pending).append(&data)).await
    }

    async fn commit(&mut self, handle: Resource<WriterHandle>) -> DriveResult<()> {
        let (slot, pending) = self.pending_file(&handle)?;
        on_drive(slot, move |_| lock(&pending).commit()).await
    }

    async fn abort(&mut self, handle: Resource<WriterHandle>) -> wasmtime::Result<()> {
        let pending = self.table.get(&handle)?.pending.clone();
        tokio::task::spawn_blocking(move || lock(&pending).abort()).await?;
        Ok(())
    }

    async fn drop(&mut self, handle: Resource<WriterHandle>) -> wasmtime::Result<()> {
        let WriterHandle { pending, .. } = self.table.delete(handle)?;
        tokio::task::spawn_blocking(move || lock(&pending).abort()).await?;
        Ok(())
    }
}

pub fn add_to_linker(linker: &mut wasmtime::component::Linker<State>) -> wasmtime::Result<()> {
    drive::add_to_linker::<State, HasSelf<State>>(linker, |state| state)
}
