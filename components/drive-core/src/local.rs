//! A drive folder over `std::fs` (native, or wasi:filesystem preopens under wasm32-wasip2).
//!
//! Every path from the object layer is checked segment by segment before it touches the file
//! system (no empty, ".", ".." or NUL segment, bounded length), so no key can leave its drive.
//! Files are written in the drive's own temp area (`.tessera/tmp`, same file system, so renames
//! are atomic), fsynced, renamed into place and the parent directory fsynced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Largest chunk a `read-range` returns or an `append` takes (the contract's 4 MiB).
pub const MAX_CHUNK_BYTES: usize = 4 << 20;
/// Longest path the object layer may name, in bytes.
const MAX_PATH_BYTES: usize = 4096;
/// Longest path segment, in bytes (the common file-system limit).
const MAX_SEGMENT_BYTES: usize = 255;
/// The drive's temp area, inside its own `.tessera` directory (bucket names cannot start with '.').
pub const TEMP_DIR: &str = ".tessera/tmp";
/// Where lock files live (`drive-fs` only; the native host locks in memory).
pub const LOCK_DIR: &str = ".tessera/locks";

/// Why a drive call failed; mirrors `drive-error` in `wit/drive.wit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    NotFound,
    InvalidPath(String),
    NotEmpty,
    TooLarge,
    Faulty(String),
}

impl From<io::Error> for Fault {
    fn from(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Fault::NotFound,
            io::ErrorKind::DirectoryNotEmpty => Fault::NotEmpty,
            _ => Fault::Faulty(error.to_string()),
        }
    }
}

pub type DriveResult<T> = Result<T, Fault>;

fn invalid(why: &str) -> Fault {
    Fault::InvalidPath(why.to_owned())
}

/// One directory entry.
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
}

/// What `stat` tells.
pub struct Info {
    pub size: u64,
    pub is_dir: bool,
    pub modified_ms: u64,
}

/// One drive folder.
pub struct LocalDrive {
    label: String,
    root: PathBuf,
}

/// A file open for reading: it stays readable when its path is replaced or deleted.
pub struct OpenFile {
    file: File,
    size: u64,
}

/// A lock file this process created; removed when dropped.
pub struct HeldLock {
    path: PathBuf,
    token: String,
}

/// A file being written in the temp area.
pub struct PendingFile {
    root: PathBuf,
    file: Option<File>,
    temp_path: PathBuf,
    final_path: PathBuf,
}

impl LocalDrive {
    pub fn new(label: String, root: PathBuf) -> Self {
        Self { label, root }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file-system path of a drive path; `allow_root` lets "" name the drive itself.
    fn resolve(&self, path: &str, allow_root: bool) -> DriveResult<PathBuf> {
        let mut resolved = self.root.clone();
        resolved.extend(checked_segments(path, allow_root)?);
        Ok(resolved)
    }

    /// A drive whose folder vanished answers "faulty", never "not found": an empty answer from
    /// a missing drive would read as "this object does not exist here" and could outvote the
    /// drives that hold it.
    fn guard<T>(&self, result: DriveResult<T>) -> DriveResult<T> {
        match result {
            Err(Fault::NotFound) if !self.root.is_dir() => Err(Fault::Faulty(format!("drive folder {} is gone", self.root.display()))),
            other => other,
        }
    }

    fn temp_path(&self) -> DriveResult<PathBuf> {
        Ok(self.root.join(TEMP_DIR).join(random_hex()?))
    }

    pub fn read_file(&self, path: &str, max_bytes: u32) -> DriveResult<Vec<u8>> {
        self.guard(self.read_file_unguarded(path, max_bytes))
    }

    pub fn read_range(&self, path: &str, offset: u64, length: u32) -> DriveResult<Vec<u8>> {
        self.guard(self.read_range_unguarded(path, offset, length))
    }

    pub fn write_file(&self, path: &str, data: &[u8]) -> DriveResult<()> {
        self.guard(self.write_file_unguarded(path, data))
    }

    pub fn create_file(&self, path: &str) -> DriveResult<PendingFile> {
        self.guard(self.create_file_unguarded(path))
    }

    pub fn rename(&self, source: &str, destination: &str) -> DriveResult<()> {
        self.guard(self.rename_unguarded(source, destination))
    }

    pub fn delete(&self, path: &str, recursive: bool) -> DriveResult<()> {
        self.guard(self.delete_unguarded(path, recursive))
    }

    pub fn prune_empty_dirs(&self, path: &str, stop_at: &str) -> DriveResult<()> {
        self.guard(self.prune_empty_dirs_unguarded(path, stop_at))
    }

    pub fn make_dir(&self, path: &str) -> DriveResult<()> {
        self.guard(self.make_dir_unguarded(path))
    }

    pub fn list_dir(&self, path: &str) -> DriveResult<Vec<Entry>> {
        self.guard(self.list_dir_unguarded(path))
    }

    pub fn stat(&self, path: &str) -> DriveResult<Info> {
        self.guard(self.stat_unguarded(path))
    }

    pub fn open_file(&self, path: &str) -> DriveResult<OpenFile> {
        self.guard((|| {
            let file = File::open(self.resolve(path, false)?)?;
            let size = file.metadata()?.len();
            Ok(OpenFile { file, size })
        })())
    }

    /// Tries once to take the lock file for `name` (any string; hashed into a file name).
    /// A lock file whose lease ran out belonged to a holder that crashed: it is broken.
    pub fn try_lock(&self, name: &str, lease_ms: u64) -> DriveResult<Option<HeldLock>> {
        let directory = self.resolve(LOCK_DIR, false)?;
        let path = directory.join(format!("{:016x}", fnv1a(name.as_bytes())));
        let token = random_hex()?;
        let expires_ms = now_ms().saturating_add(lease_ms);
        for _attempt in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(format!("{expires_ms} {token}").as_bytes())?;
                    return Ok(Some(HeldLock { path, token }));
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    self.guard(make_dirs(&self.root, &directory))?;
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    let held_until =
                        fs::read_to_string(&path).ok().and_then(|text| text.split(' ').next().and_then(|ms| ms.parse::<u64>().ok()));
                    // A lock file being written has no content yet: it is young, not stale.
                    match held_until {
                        Some(until) if until < now_ms() => {
                            tracing_free_log(&format!("breaking the expired lock {}", path.display()));
                            let _ = fs::remove_file(&path);
                        }
                        _ => return Ok(None),
                    }
                }
                Err(error) => return self.guard(Err(error.into())),
            }
        }
        Ok(None)
    }

    fn read_file_unguarded(&self, path: &str, max_bytes: u32) -> DriveResult<Vec<u8>> {
        let file = File::open(self.resolve(path, false)?)?;
        let size = file.metadata()?.len();
        if size > u64::from(max_bytes) {
            return Err(Fault::TooLarge);
        }
        read_at_most(&file, 0, size as usize)
    }

    fn read_range_unguarded(&self, path: &str, offset: u64, length: u32) -> DriveResult<Vec<u8>> {
        if length as usize > MAX_CHUNK_BYTES {
            return Err(Fault::TooLarge);
        }
        let file = File::open(self.resolve(path, false)?)?;
        read_at_most(&file, offset, length as usize)
    }

    fn write_file_unguarded(&self, path: &str, data: &[u8]) -> DriveResult<()> {
        let final_path = self.resolve(path, false)?;
        let temp_path = self.temp_path()?;
        let result = (|| {
            let mut file = create_temp(&temp_path)?;
            file.write_all(data)?;
            file.sync_all()?;
            publish(&self.root, &temp_path, &final_path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp_path);
        }
        result
    }

    fn create_file_unguarded(&self, path: &str) -> DriveResult<PendingFile> {
        let final_path = self.resolve(path, false)?;
        let temp_path = self.temp_path()?;
        let file = create_temp(&temp_path)?;
        Ok(PendingFile { root: self.root.clone(), file: Some(file), temp_path, final_path })
    }

    fn rename_unguarded(&self, source: &str, destination: &str) -> DriveResult<()> {
        let source = self.resolve(source, false)?;
        let destination = self.resolve(destination, false)?;
        if let Some(parent) = destination.parent() {
            make_dirs(&self.root, parent)?;
        }
        fs::rename(&source, &destination)?;
        sync_parent(&destination)
    }

    fn delete_unguarded(&self, path: &str, recursive: bool) -> DriveResult<()> {
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

    fn prune_empty_dirs_unguarded(&self, path: &str, stop_at: &str) -> DriveResult<()> {
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

    fn make_dir_unguarded(&self, path: &str) -> DriveResult<()> {
        make_dirs(&self.root, &self.resolve(path, false)?)
    }

    fn list_dir_unguarded(&self, path: &str) -> DriveResult<Vec<Entry>> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(self.resolve(path, true)?)? {
            let entry = entry?;
            // Names that are not UTF-8 were not written by Tessera: they are not ours to list.
            if let Ok(name) = entry.file_name().into_string() {
                entries.push(Entry { name, is_dir: entry.file_type()?.is_dir() });
            }
        }
        Ok(entries)
    }

    fn stat_unguarded(&self, path: &str) -> DriveResult<Info> {
        let meta = fs::metadata(self.resolve(path, true)?)?;
        let modified_ms = meta
            .modified()
            .ok()
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or(0);
        Ok(Info { size: meta.len(), is_dir: meta.is_dir(), modified_ms })
    }
}

impl OpenFile {
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn read_at(&self, offset: u64, length: u32) -> DriveResult<Vec<u8>> {
        if length as usize > MAX_CHUNK_BYTES {
            return Err(Fault::TooLarge);
        }
        read_at_most(&self.file, offset, length as usize)
    }
}

impl Drop for HeldLock {
    /// Releases the lock, unless it expired and someone else broke it and holds it now.
    fn drop(&mut self) {
        let ours = fs::read_to_string(&self.path).is_ok_and(|text| text.ends_with(&self.token));
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The segments of a drive path, checked against the contract (`wit/drive.wit`): no empty,
/// "." or ".." segment, no NUL, bounded lengths. `allow_root` lets "" name the drive itself
/// (no segments). Every drive implementation checks paths here, so no key leaves its drive.
pub fn checked_segments(path: &str, allow_root: bool) -> DriveResult<Vec<&str>> {
    if path.is_empty() {
        return if allow_root { Ok(Vec::new()) } else { Err(invalid("empty path")) };
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(invalid("path too long"));
    }
    let segments: Vec<&str> = path.split('/').collect();
    for segment in &segments {
        if segment.is_empty() || *segment == "." || *segment == ".." {
            return Err(invalid("empty, '.' or '..' segment"));
        }
        if segment.contains('\0') {
            return Err(invalid("NUL in path"));
        }
        if segment.len() > MAX_SEGMENT_BYTES {
            return Err(invalid("segment too long"));
        }
    }
    Ok(segments)
}

/// Calls `attempt` until it returns something or `wait` has passed, pausing 1 ms and then
/// twice as long each time (at most 20 ms): how a lock is waited for where there is nothing to
/// wait on but time (lock files, key-value stores).
pub fn poll_with_backoff<T, E>(wait: std::time::Duration, mut attempt: impl FnMut() -> Result<Option<T>, E>) -> Result<Option<T>, E> {
    let deadline = std::time::Instant::now() + wait;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        if let Some(found) = attempt()? {
            return Ok(Some(found));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(20));
    }
}

/// 64-bit FNV-1a: lock file names from lock names (no collision resistance needed: two names
/// sharing a file only ever wait for each other).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

pub fn random_hex() -> DriveResult<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| Fault::Faulty(format!("no randomness: {error}")))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as u64).unwrap_or(0)
}

/// This crate has no logger: lock breaks are rare and worth a line on stderr.
fn tracing_free_log(line: &str) {
    eprintln!("drive-fs: {line}");
}

impl PendingFile {
    pub fn append(&mut self, data: &[u8]) -> DriveResult<()> {
        if data.len() > MAX_CHUNK_BYTES {
            return Err(Fault::TooLarge);
        }
        let file = self.file.as_mut().ok_or_else(|| Fault::Faulty("writer already closed".into()))?;
        Ok(file.write_all(data)?)
    }

    pub fn commit(&mut self) -> DriveResult<()> {
        let file = self.file.take().ok_or_else(|| Fault::Faulty("writer already closed".into()))?;
        let result = file.sync_all().map_err(Fault::from).and_then(|()| publish(&self.root, &self.temp_path, &self.final_path));
        if result.is_err() {
            let _ = fs::remove_file(&self.temp_path);
        }
        result
    }

    pub fn abort(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp_path);
        }
    }
}

impl Drop for PendingFile {
    /// An uncommitted file never becomes visible, and does not linger in the temp area.
    fn drop(&mut self) {
        self.abort();
    }
}

/// A new temp file; the temp area is created on first use.
fn create_temp(temp_path: &Path) -> DriveResult<File> {
    match OpenOptions::new().write(true).create_new(true).open(temp_path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let temp_dir = temp_path.parent().expect("temp files live in the temp area");
            let root = temp_dir.parent().and_then(Path::parent).expect("the temp area is two levels down");
            make_dirs(root, temp_dir)?;
            Ok(OpenOptions::new().write(true).create_new(true).open(temp_path)?)
        }
        other => Ok(other?),
    }
}

/// Creates `dir` and its parents below the drive's root, but never the root itself: a drive
/// folder that vanished stays vanished (and the drive faulty) rather than coming back empty.
fn make_dirs(root: &Path, dir: &Path) -> DriveResult<()> {
    if !root.is_dir() {
        return Err(Fault::Faulty(format!("drive folder {} is gone", root.display())));
    }
    Ok(fs::create_dir_all(dir)?)
}

/// Moves a durable temp file to its place and makes the rename durable too.
fn publish(root: &Path, temp_path: &Path, final_path: &Path) -> DriveResult<()> {
    if let Some(parent) = final_path.parent() {
        make_dirs(root, parent)?;
    }
    fs::rename(temp_path, final_path)?;
    sync_parent(final_path)
}

/// Makes a rename in `path`'s directory durable. Where the platform cannot open a directory
/// as a file (some WASI hosts), the rename stays as durable as the host's file system makes it.
fn sync_parent(path: &Path) -> DriveResult<()> {
    if let Some(parent) = path.parent()
        && let Ok(directory) = File::open(parent)
    {
        directory.sync_all()?;
    }
    Ok(())
}

fn read_at_most(file: &File, offset: u64, length: usize) -> DriveResult<Vec<u8>> {
    let mut buffer = vec![0u8; length];
    let mut filled = 0;
    while filled < length {
        match read_at(file, &mut buffer[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error.into()),
        }
    }
    buffer.truncate(filled);
    Ok(buffer)
}

#[cfg(unix)]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buffer, offset)
}

/// Positioned reads are unstable in WASI's std: seek, then read (each file is opened per call,
/// so nothing else moves its cursor).
#[cfg(not(unix))]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drive() -> (tempfile::TempDir, LocalDrive) {
        let dir = tempfile::tempdir().unwrap();
        let drive = LocalDrive::new("test".into(), dir.path().to_path_buf());
        (dir, drive)
    }

    #[test]
    fn no_path_leaves_the_drive() {
        let (_dir, drive) = drive();
        for path in ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.", "nul\0", ""] {
            assert!(matches!(drive.write_file(path, b"x"), Err(Fault::InvalidPath(_))), "{path:?}");
        }
    }

    #[test]
    fn writes_are_invisible_until_commit_and_gone_after_abort() {
        let (_dir, drive) = drive();
        let mut pending = drive.create_file("b/k/.d1/part.1").unwrap();
        pending.append(b"hello").unwrap();
        assert_eq!(drive.read_file("b/k/.d1/part.1", 100).err(), Some(Fault::NotFound));
        pending.commit().unwrap();
        assert_eq!(drive.read_file("b/k/.d1/part.1", 100).unwrap(), b"hello");
        assert_eq!(drive.read_range("b/k/.d1/part.1", 1, 3).unwrap(), b"ell");
        let mut aborted = drive.create_file("b/k2/part.1").unwrap();
        aborted.append(b"x").unwrap();
        drop(aborted);
        assert_eq!(fs::read_dir(drive.root().join(TEMP_DIR)).unwrap().count(), 0);
        assert_eq!(drive.read_file("b/k/.d1/part.1", 3).err(), Some(Fault::TooLarge));
    }

    #[test]
    fn a_vanished_drive_is_faulty_and_never_recreated() {
        let (dir, drive) = drive();
        drive.write_file("b/k/.meta", b"1").unwrap();
        fs::remove_dir_all(dir.path()).unwrap();
        assert!(matches!(drive.read_file("b/k/.meta", 10), Err(Fault::Faulty(_))));
        assert!(matches!(drive.write_file("b/k/.meta", b"2"), Err(Fault::Faulty(_))));
        assert!(matches!(drive.make_dir("b/x"), Err(Fault::Faulty(_))));
        assert!(matches!(drive.create_file("b/k/.d/part.1"), Err(Fault::Faulty(_))));
        assert!(!dir.path().exists());
    }

    #[test]
    fn an_open_file_outlives_its_deletion() {
        let (_dir, drive) = drive();
        drive.write_file("b/k/.d1/part.1", b"old bytes").unwrap();
        let open = drive.open_file("b/k/.d1/part.1").unwrap();
        drive.delete("b/k/.d1", true).unwrap();
        assert_eq!(open.size(), 9);
        assert_eq!(open.read_at(4, 100).unwrap(), b"bytes");
    }

    #[test]
    fn lock_files_exclude_until_released_or_expired() {
        let (_dir, drive) = drive();
        let held = drive.try_lock("b/k", 60_000).unwrap().expect("free lock");
        assert!(drive.try_lock("b/k", 60_000).unwrap().is_none());
        assert!(drive.try_lock("b/other", 60_000).unwrap().is_some());
        drop(held);
        let short = drive.try_lock("b/k", 0).unwrap().expect("released lock");
        std::thread::sleep(std::time::Duration::from_millis(5));
        // Expired: broken by the next taker; the old holder's release leaves the new lock alone.
        let next = drive.try_lock("b/k", 60_000).unwrap().expect("expired lock is broken");
        drop(short);
        assert!(drive.try_lock("b/k", 60_000).unwrap().is_none());
        drop(next);
    }

    #[test]
    fn prune_stops_at_non_empty_and_at_the_bucket() {
        let (_dir, drive) = drive();
        drive.write_file("b/a/x/.meta", b"1").unwrap();
        drive.write_file("b/a/.meta", b"2").unwrap();
        drive.delete("b/a/x/.meta", false).unwrap();
        drive.prune_empty_dirs("b/a/x", "b").unwrap();
        assert!(drive.root().join("b/a/.meta").exists());
        assert!(!drive.root().join("b/a/x").exists());
        drive.delete("b/a/.meta", false).unwrap();
        drive.prune_empty_dirs("b/a", "b").unwrap();
        assert!(drive.root().join("b").exists() && !drive.root().join("b/a").exists());
    }
}
