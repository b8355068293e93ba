//! The `drive` import over local directories.
//!
//! Every path from the guest is checked segment by segment before it touches the file system
//! (no empty, ".", ".." or NUL segment, bounded length), so no key can leave its drive. Files
//! are written in the drive's own temp area (`.tessera/tmp`, same file system, so renames are
//! atomic), fsynced, renamed into place and the parent directory fsynced. Blocking file I/O
//! runs on tokio's blocking pool, never on the threads that serve requests.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use wasmtime::component::{HasSelf, Resource, ResourceTableError};

use crate::bindings::drive::{self, DirEntry, DriveError, DriveUsage, FileInfo};
use crate::runtime::State;

/// Largest chunk a `read-range` returns or an `append` takes (the contract's 4 MiB).
const MAX_CHUNK_BYTES: usize = 4 << 20;
/// Longest path the guest may name, in bytes.
const MAX_PATH_BYTES: usize = 4096;
/// Longest path segment, in bytes (the common file-system limit).
const MAX_SEGMENT_BYTES: usize = 255;
/// The drive's own area: temp files live here; bucket names cannot start with '.'.
const TEMP_DIR: &str = ".tessera/tmp";

/// The drives of this node, shared by every request.
#[derive(Clone)]
pub struct DriveSet {
    drives: Arc<Vec<Arc<DriveRoot>>>,
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
            drives.push(Arc::new(DriveRoot { label: path.display().to_string(), root }));
        }
        Ok(Self { drives: Arc::new(drives) })
    }
}

impl DriveSet {
    /// No drives: for components that never touch one (erasure engines, benches).
    pub fn none() -> Self {
        Self { drives: Arc::new(Vec::new()) }
    }
}

/// One drive folder.
pub struct DriveRoot {
    label: String,
    root: PathBuf,
}

/// The host value behind a guest's `drive` handle.
pub struct DriveHandle(Arc<DriveRoot>);

/// The host value behind a guest's `writer` handle.
pub struct WriterHandle(Arc<Mutex<PendingFile>>);

/// A file being written in the temp area.
pub struct PendingFile {
    file: Option<File>,
    temp_path: PathBuf,
    final_path: PathBuf,
}

/// A drive call's failure: a domain error for the guest, or a host bug that traps.
#[derive(Debug)]
pub enum HostDriveError {
    Drive(DriveError),
    Trap(wasmtime::Error),
}

impl From<DriveError> for HostDriveError {
    fn from(error: DriveError) -> Self {
        Self::Drive(error)
    }
}

impl From<ResourceTableError> for HostDriveError {
    fn from(error: ResourceTableError) -> Self {
        Self::Trap(error.into())
    }
}

impl From<io::Error> for HostDriveError {
    fn from(error: io::Error) -> Self {
        Self::Drive(match error.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => DriveError::NotFound,
            io::ErrorKind::DirectoryNotEmpty => DriveError::NotEmpty,
            _ => DriveError::Faulty(error.to_string()),
        })
    }
}

type DriveResult<T> = Result<T, HostDriveError>;

fn invalid(why: &str) -> HostDriveError {
    HostDriveError::Drive(DriveError::InvalidPath(why.to_owned()))
}

impl DriveRoot {
    /// The host path of a guest path; `allow_root` lets "" name the drive itself.
    fn resolve(&self, path: &str, allow_root: bool) -> DriveResult<PathBuf> {
        if path.is_empty() {
            return if allow_root { Ok(self.root.clone()) } else { Err(invalid("empty path")) };
        }
        if path.len() > MAX_PATH_BYTES {
            return Err(invalid("path too long"));
        }
        let mut resolved = self.root.clone();
        for segment in path.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(invalid("empty, '.' or '..' segment"));
            }
            if segment.contains('\0') {
                return Err(invalid("NUL in path"));
            }
            if segment.len() > MAX_SEGMENT_BYTES {
                return Err(invalid("segment too long"));
            }
            resolved.push(segment);
        }
        Ok(resolved)
    }

    fn temp_path(&self) -> DriveResult<PathBuf> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|error| HostDriveError::Trap(wasmtime::format_err!("no randomness: {error}")))?;
        let name: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        Ok(self.root.join(TEMP_DIR).join(name))
    }

    fn usage(&self) -> DriveResult<DriveUsage> {
        let path = std::ffi::CString::new(self.root.as_os_str().as_encoded_bytes()).map_err(|_| invalid("root has NUL"))?;
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `path` is a valid C string and `stats` a valid out-pointer for the call.
        if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
            return Err(io::Error::last_os_error().into());
        }
        let block = stats.f_frsize as u64;
        Ok(DriveUsage { total_bytes: stats.f_blocks as u64 * block, free_bytes: stats.f_bavail as u64 * block })
    }

    fn read_file(&self, path: &str, max_bytes: u32) -> DriveResult<Vec<u8>> {
        let file = File::open(self.resolve(path, false)?)?;
        let size = file.metadata()?.len();
        if size > u64::from(max_bytes) {
            return Err(DriveError::TooLarge.into());
        }
        read_at_most(&file, 0, size as usize)
    }

    fn read_range(&self, path: &str, offset: u64, length: u32) -> DriveResult<Vec<u8>> {
        if length as usize > MAX_CHUNK_BYTES {
            return Err(DriveError::TooLarge.into());
        }
        let file = File::open(self.resolve(path, false)?)?;
        read_at_most(&file, offset, length as usize)
    }

    fn write_file(&self, path: &str, data: &[u8]) -> DriveResult<()> {
        let final_path = self.resolve(path, false)?;
        let temp_path = self.temp_path()?;
        let result = (|| {
            let mut file = File::create(&temp_path)?;
            file.write_all(data)?;
            file.sync_all()?;
            publish(&temp_path, &final_path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp_path);
        }
        result
    }

    fn create_file(&self, path: &str) -> DriveResult<PendingFile> {
        let final_path = self.resolve(path, false)?;
        let temp_path = self.temp_path()?;
        let file = OpenOptions::new().write(true).create_new(true).open(&temp_path)?;
        Ok(PendingFile { file: Some(file), temp_path, final_path })
    }

    fn rename(&self, source: &str, destination: &str) -> DriveResult<()> {
        let source = self.resolve(source, false)?;
        let destination = self.resolve(destination, false)?;
        if let Some(parent) = destination.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::rename(&source, &destination)?;
        sync_parent(&destination)
    }

    fn delete(&self, path: &str, recursive: bool) -> DriveResult<()> {
        let path = self.resolve(path, false)?;
        let result = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() && recursive => fs::remove_dir_all(&path),
            Ok(meta) if meta.is_dir() => fs::remove_dir(&path),
            Ok(_) => fs::remove_file(&path),
            Err(error) => Err(error),
        };
        match result {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            other => Ok(other?),
        }
    }

    fn prune_empty_dirs(&self, path: &str, stop_at: &str) -> DriveResult<()> {
        let stop = self.resolve(stop_at, true)?;
        let mut current = self.resolve(path, false)?;
        while current != stop && current.starts_with(&stop) {
            match fs::remove_dir(&current) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                // Not empty (another key lives below): the pruning ends here.
                Err(_) => return Ok(()),
            }
            if !current.pop() {
                break;
            }
        }
        Ok(())
    }

    fn make_dir(&self, path: &str) -> DriveResult<()> {
        Ok(fs::create_dir_all(self.resolve(path, false)?)?)
    }

    fn list_dir(&self, path: &str) -> DriveResult<Vec<DirEntry>> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(self.resolve(path, true)?)? {
            let entry = entry?;
            // Names that are not UTF-8 were not written by Tessera: they are not ours to list.
            if let Ok(name) = entry.file_name().into_string() {
                entries.push(DirEntry { name, is_dir: entry.file_type()?.is_dir() });
            }
        }
        Ok(entries)
    }

    fn stat(&self, path: &str) -> DriveResult<FileInfo> {
        let meta = fs::metadata(self.resolve(path, true)?)?;
        let modified_ms = meta
            .modified()
            .ok()
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or(0);
        Ok(FileInfo { size: meta.len(), is_dir: meta.is_dir(), modified_ms })
    }
}

impl PendingFile {
    fn append(&mut self, data: &[u8]) -> DriveResult<()> {
        if data.len() > MAX_CHUNK_BYTES {
            return Err(DriveError::TooLarge.into());
        }
        let file = self.file.as_mut().ok_or_else(|| DriveError::Faulty("writer already closed".into()))?;
        Ok(file.write_all(data)?)
    }

    fn commit(&mut self) -> DriveResult<()> {
        let file = self.file.take().ok_or_else(|| DriveError::Faulty("writer already closed".into()))?;
        let result = file.sync_all().map_err(HostDriveError::from).and_then(|()| publish(&self.temp_path, &self.final_path));
        if result.is_err() {
            let _ = fs::remove_file(&self.temp_path);
        }
        result
    }

    fn abort(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp_path);
        }
    }
}

/// Moves a durable temp file to its place and makes the rename durable too.
fn publish(temp_path: &Path, final_path: &Path) -> DriveResult<()> {
    if let Some(parent) = final_path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::rename(temp_path, final_path)?;
    sync_parent(final_path)
}

fn sync_parent(path: &Path) -> DriveResult<()> {
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

fn read_at_most(file: &File, offset: u64, length: usize) -> DriveResult<Vec<u8>> {
    let mut buffer = vec![0u8; length];
    let mut filled = 0;
    while filled < length {
        match file.read_at(&mut buffer[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error.into()),
        }
    }
    buffer.truncate(filled);
    Ok(buffer)
}

/// Runs blocking file I/O on the blocking pool.
async fn blocking<T: Send + 'static>(op: impl FnOnce() -> DriveResult<T> + Send + 'static) -> DriveResult<T> {
    tokio::task::spawn_blocking(op).await.map_err(|error| HostDriveError::Trap(error.into()))?
}

/// Waits for drive tasks that already run in parallel, keeping their order; a host failure in
/// any of them traps.
async fn join_in_order(tasks: Vec<tokio::task::JoinHandle<DriveResult<()>>>) -> wasmtime::Result<Vec<Result<(), DriveError>>> {
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(match task.await? {
            Ok(()) => Ok(()),
            Err(HostDriveError::Drive(error)) => Err(error),
            Err(HostDriveError::Trap(trap)) => return Err(trap),
        });
    }
    Ok(results)
}

impl State {
    fn drive_root(&self, handle: &Resource<DriveHandle>) -> DriveResult<Arc<DriveRoot>> {
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
        let roots: Vec<Arc<DriveRoot>> = self.drives.drives.iter().cloned().collect();
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
        Ok(self.table.get(&handle)?.0.label.clone())
    }

    async fn usage(&mut self, handle: Resource<DriveHandle>) -> DriveResult<DriveUsage> {
        let root = self.drive_root(&handle)?;
        blocking(move || root.usage()).await
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
        blocking(move || root.list_dir(&path)).await
    }

    async fn stat(&mut self, handle: Resource<DriveHandle>, path: String) -> DriveResult<FileInfo> {
        let root = self.drive_root(&handle)?;
        blocking(move || root.stat(&path)).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn drive() -> (tempfile::TempDir, DriveRoot) {
        let dir = tempfile::tempdir().unwrap();
        let set = DriveSet::open(&[dir.path().to_path_buf()]).unwrap();
        let root = Arc::try_unwrap(set.drives[0].clone()).unwrap_or_else(|shared| DriveRoot {
            label: shared.label.clone(),
            root: shared.root.clone(),
        });
        (dir, root)
    }

    #[test]
    fn no_path_leaves_the_drive() {
        let (_dir, root) = drive();
        for path in ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.", "nul\0", ""] {
            assert!(matches!(root.write_file(path, b"x"), Err(HostDriveError::Drive(DriveError::InvalidPath(_)))), "{path:?}");
        }
    }

    #[test]
    fn writes_are_invisible_until_commit_and_gone_after_abort() {
        let (_dir, root) = drive();
        let mut pending = root.create_file("b/k/.d1/part.1").unwrap();
        pending.append(b"hello").unwrap();
        assert!(matches!(root.read_file("b/k/.d1/part.1", 100), Err(HostDriveError::Drive(DriveError::NotFound))));
        pending.commit().unwrap();
        assert_eq!(root.read_file("b/k/.d1/part.1", 100).ok().unwrap(), b"hello");
        assert_eq!(root.read_range("b/k/.d1/part.1", 1, 3).ok().unwrap(), b"ell");
        let mut aborted = root.create_file("b/k2/part.1").unwrap();
        aborted.append(b"x").unwrap();
        aborted.abort();
        assert_eq!(fs::read_dir(root.root.join(TEMP_DIR)).unwrap().count(), 0);
    }

    #[test]
    fn prune_stops_at_non_empty_and_at_the_bucket() {
        let (_dir, root) = drive();
        root.write_file("b/a/x/.meta", b"1").unwrap();
        root.write_file("b/a/.meta", b"2").unwrap();
        root.delete("b/a/x/.meta", false).unwrap();
        root.prune_empty_dirs("b/a/x", "b").unwrap();
        assert!(root.root.join("b/a/.meta").exists());
        assert!(!root.root.join("b/a/x").exists());
        root.delete("b/a/.meta", false).unwrap();
        root.prune_empty_dirs("b/a", "b").unwrap();
        assert!(root.root.join("b").exists() && !root.root.join("b/a").exists());
    }
}
