//! The `drive` import over local directories: `drive_fs::local` (shared with the `drive-fs`
//! component) does the file work; this module runs it on tokio's blocking pool, never on the
//! threads that serve requests, and maps it onto the WIT resources.

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use drive_fs::local::{Fault, LocalDrive, PendingFile, TEMP_DIR};
use wasmtime::component::{HasSelf, Resource, ResourceTableError};

use crate::bindings::drive::{self, DirEntry, DriveError, DriveUsage, FileInfo};
use crate::runtime::State;

/// The drives of this node, shared by every request.
#[derive(Clone)]
pub struct DriveSet {
    drives: Arc<Vec<Arc<LocalDrive>>>,
}

impl DriveSet {
    /// Opens (creating when needed) each drive folder and empties its temp area: whatever is
    /// there was left by a crash and was never visible.
    pub fn open(paths: &[PathBuf]) -> Result<Self> {
        let mut drives = Vec::with_capacity(paths.len());
        for path in paths {
            fs::create_dir_all(path).with_context(|| format!("creating drive {}", path.display()))?;
            let root = path.canonicalize().with_context(|| format!("resolving drive {}", path.display()))?;
            let temp = root.join(TEMP_DIR);
            if temp.exists() {
                let stale = fs::read_dir(&temp).map(|entries| entries.count()).unwrap_or(0);
                if stale > 0 {
                    tracing::info!(drive = %root.display(), stale, "removing temp files left by an earlier run");
                }
                fs::remove_dir_all(&temp).with_context(|| format!("cleaning {}", temp.display()))?;
            }
            fs::create_dir_all(&temp).with_context(|| format!("creating {}", temp.display()))?;
            drives.push(Arc::new(LocalDrive::new(path.display().to_string(), root)));
        }
        Ok(Self { drives: Arc::new(drives) })
    }

    /// No drives: for components that never touch one (erasure engines, benches).
    pub fn none() -> Self {
        Self { drives: Arc::new(Vec::new()) }
    }
}

/// The host value behind a guest's `drive` handle.
pub struct DriveHandle(Arc<LocalDrive>);

/// The host value behind a guest's `writer` handle.
pub struct WriterHandle(Arc<Mutex<PendingFile>>);

/// A drive call's failure: a domain error for the guest, or a host bug that traps.
#[derive(Debug)]
pub enum HostDriveError {
    Drive(DriveError),
    Trap(wasmtime::Error),
}

impl From<Fault> for DriveError {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::NotFound => DriveError::NotFound,
            Fault::InvalidPath(why) => DriveError::InvalidPath(why),
            Fault::NotEmpty => DriveError::NotEmpty,
            Fault::TooLarge => DriveError::TooLarge,
            Fault::Faulty(why) => DriveError::Faulty(why),
        }
    }
}

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
fn usage(drive: &LocalDrive) -> DriveResult<DriveUsage> {
    let path = std::ffi::CString::new(drive.root().as_os_str().as_encoded_bytes())
        .map_err(|_| HostDriveError::Drive(DriveError::InvalidPath("root has NUL".into())))?;
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid C string and `stats` a valid out-pointer for the call.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return Err(Fault::from(std::io::Error::last_os_error()).into());
    }
    let block = stats.f_frsize as u64;
    Ok(DriveUsage { total_bytes: stats.f_blocks as u64 * block, free_bytes: stats.f_bavail as u64 * block })
}

fn entries(listed: Vec<drive_fs::local::Entry>) -> Vec<DirEntry> {
    listed.into_iter().map(|entry| DirEntry { name: entry.name, is_dir: entry.is_dir }).collect()
}

/// Runs blocking file I/O on the blocking pool.
async fn blocking<T: Send + 'static>(op: impl FnOnce() -> Result<T, Fault> + Send + 'static) -> DriveResult<T> {
    Ok(tokio::task::spawn_blocking(op).await.map_err(|error| HostDriveError::Trap(error.into()))??)
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
    fn drive_root(&self, handle: &Resource<DriveHandle>) -> DriveResult<Arc<LocalDrive>> {
        Ok(self.table.get(handle)?.0.clone())
    }

    fn pending_file(&self, handle: &Resource<WriterHandle>) -> DriveResult<Arc<Mutex<PendingFile>>> {
        Ok(self.table.get(handle)?.0.clone())
    }
}

fn lock(file: &Mutex<PendingFile>) -> std::sync::MutexGuard<'_, PendingFile> {
    // A panic while holding the lock cannot leave a PendingFile half-updated in a way that
    // matters (the worst is a temp file cleaned at the next start), so poisoning is ignored.
    file.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl drive::Host for State {
    async fn drives(&mut self) -> wasmtime::Result<Vec<Resource<DriveHandle>>> {
        let roots: Vec<Arc<LocalDrive>> = self.drives.drives.iter().cloned().collect();
        roots.into_iter().map(|root| Ok(self.table.push(DriveHandle(root))?)).collect()
    }

    async fn commit_all(&mut self, writers: Vec<Resource<WriterHandle>>) -> wasmtime::Result<Vec<Result<(), DriveError>>> {
        let mut commits = Vec::with_capacity(writers.len());
        for writer in &writers {
            let pending = self.table.get(writer)?.0.clone();
            commits.push(tokio::task::spawn_blocking(move || lock(&pending).commit()));
        }
        join_in_order(commits).await
    }

    async fn write_file_all(&mut self, writes: Vec<(Resource<DriveHandle>, String, Vec<u8>)>) -> wasmtime::Result<Vec<Result<(), DriveError>>> {
        let mut tasks = Vec::with_capacity(writes.len());
        for (drive, path, data) in writes {
            let root = self.table.get(&drive)?.0.clone();
            tasks.push(tokio::task::spawn_blocking(move || root.write_file(&path, &data)));
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
        Ok(self.table.get(&handle)?.0.label().to_owned())
    }

    async fn usage(&mut self, handle: Resource<DriveHandle>) -> DriveResult<DriveUsage> {
        let root = self.drive_root(&handle)?;
        tokio::task::spawn_blocking(move || usage(&root)).await.map_err(|error| HostDriveError::Trap(error.into()))?
    }

    async fn read_file(&mut self, handle: Resource<DriveHandle>, path: String, max_bytes: u32) -> DriveResult<Vec<u8>> {
        let root = self.drive_root(&handle)?;
        blocking(move || root.read_file(&path, max_bytes)).await
    }

    async fn read_range(&mut self, handle: Resource<DriveHandle>, path: String, offset: u64, length: u32) -> DriveResult<Vec<u8>> {
        let root = self.drive_root(&handle)?;
        blocking(move || root.read_range(&path, offset, length)).await
    }

    async fn write_file(&mut self, handle: Resource<DriveHandle>, path: String, data: Vec<u8>) -> DriveResult<()> {
        let root = self.drive_root(&handle)?;
        blocking(move || root.write_file(&path, &data)).await
    }

    async fn create_file(&mut self, handle: Resource<DriveHandle>, path: String) -> DriveResult<Resource<WriterHandle>> {
        let root = self.drive_root(&handle)?;
        let pending = blocking(move || root.create_file(&path)).await?;
        Ok(self.table.push(WriterHandle(Arc::new(Mutex::new(pending))))?)
    }

    async fn rename(&mut self, handle: Resource<DriveHandle>, source: String, destination: String) -> DriveResult<()> {
        let root = self.drive_root(&handle)?;
        blocking(move || root.rename(&source, &destination)).await
    }

    async fn delete(&mut self, handle: Resource<DriveHandle>, path: String, recursive: bool) -> DriveResult<()> {
        let root = self.drive_root(&handle)?;
        blocking(move || root.delete(&path, recursive)).await
    }

    async fn prune_empty_dirs(&mut self, handle: Resource<DriveHandle>, path: String, stop_at: String) -> DriveResult<()> {
        let root = self.drive_root(&handle)?;
        blocking(move || root.prune_empty_dirs(&path, &stop_at)).await
    }

    async fn make_dir(&mut self, handle: Resource<DriveHandle>, path: String) -> DriveResult<()> {
        let root = self.drive_root(&handle)?;
        blocking(move || root.make_dir(&path)).await
    }

    async fn list_dir(&mut self, handle: Resource<DriveHandle>, path: String) -> DriveResult<Vec<DirEntry>> {
        let root = self.drive_root(&handle)?;
        blocking(move || root.list_dir(&path)).await.map(entries)
    }

    async fn stat(&mut self, handle: Resource<DriveHandle>, path: String) -> DriveResult<FileInfo> {
        let root = self.drive_root(&handle)?;
        let info = blocking(move || root.stat(&path)).await?;
        Ok(FileInfo { size: info.size, is_dir: info.is_dir, modified_ms: info.modified_ms })
    }

    async fn drop(&mut self, handle: Resource<DriveHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl drive::HostWriter for State {
    async fn append(&mut self, handle: Resource<WriterHandle>, data: Vec<u8>) -> DriveResult<()> {
        let pending = self.pending_file(&handle)?;
        blocking(move || lock(&pending).append(&data)).await
    }

    async fn commit(&mut self, handle: Resource<WriterHandle>) -> DriveResult<()> {
        let pending = self.pending_file(&handle)?;
        blocking(move || lock(&pending).commit()).await
    }

    async fn abort(&mut self, handle: Resource<WriterHandle>) -> wasmtime::Result<()> {
        let pending = self.table.get(&handle)?.0.clone();
        tokio::task::spawn_blocking(move || lock(&pending).abort()).await?;
        Ok(())
    }

    async fn drop(&mut self, handle: Resource<WriterHandle>) -> wasmtime::Result<()> {
        let WriterHandle(pending) = self.table.delete(handle)?;
        tokio::task::spawn_blocking(move || lock(&pending).abort()).await?;
        Ok(())
    }
}

pub fn add_to_linker(linker: &mut wasmtime::component::Linker<State>) -> wasmtime::Result<()> {
    drive::add_to_linker::<State, HasSelf<State>>(linker, |state| state)
}
