//! The `drive-fs` component: `tessera:node/drive` over the preopened directories.

use std::cell::RefCell;
use std::path::PathBuf;

use std::time::Duration;

use drive_core::local::{HeldLock, LocalDrive, OpenFile, PendingFile, poll_with_backoff};

mod bindings {
    wit_bindgen::generate!({
        world: "drive-provider",
        path: "../../wit",
    });
}

use bindings::exports::tessera::node::drive::{
    self as wit, DirEntry, DriveBorrow, DriveError, DriveUsage, FileInfo, Guest, GuestDrive, GuestReader, GuestWriter, WriterBorrow,
};
use bindings::exports::tessera::node::locks::{self as wit_locks, LockError};

struct DriveFs;

/// One preopened directory.
pub struct Drive(LocalDrive);

/// A file being written; dropping it uncommitted aborts it.
pub struct Writer(RefCell<Option<PendingFile>>);

/// A file open for reading.
pub struct Reader(OpenFile);

/// A held lock file; dropping it removes the file.
pub struct Lease(#[allow(dead_code)] HeldLock);

drive_core::fault_into_drive_error!(DriveError);

/// The preopens, by guest path, in name order.
fn preopened_paths() -> Vec<String> {
    let mut paths: Vec<String> = wasip2::filesystem::preopens::get_directories().into_iter().map(|(_descriptor, path)| path).collect();
    paths.sort();
    paths
}

impl Guest for DriveFs {
    type Drive = Drive;
    type Writer = Writer;
    type Reader = Reader;

    fn drives() -> Vec<wit::Drive> {
        preopened_paths().into_iter().map(|path| wit::Drive::new(Drive(LocalDrive::new(path.clone(), PathBuf::from(path))))).collect()
    }

    fn commit_all(writers: Vec<WriterBorrow<'_>>) -> Vec<Result<(), DriveError>> {
        // No threads in Wasm: one after the other.
        writers.iter().map(|writer| writer.get::<Writer>().commit()).collect()
    }

    fn write_file_all(writes: Vec<(DriveBorrow<'_>, String, Vec<u8>)>) -> Vec<Result<(), DriveError>> {
        writes.iter().map(|(drive, path, data)| drive.get::<Drive>().write_file(path.clone(), data.clone())).collect()
    }
}

impl GuestDrive for Drive {
    fn label(&self) -> String {
        self.0.label().to_owned()
    }

    /// wasi:filesystem does not report space: zeros ("unknown") once the drive answers.
    fn usage(&self) -> Result<DriveUsage, DriveError> {
        let root = self.0.stat("")?;
        if !root.is_dir {
            return Err(DriveError::Faulty("the drive is not a directory".into()));
        }
        Ok(DriveUsage { total_bytes: 0, free_bytes: 0 })
    }

    fn read_file(&self, path: String, max_bytes: u32) -> Result<Vec<u8>, DriveError> {
        Ok(self.0.read_file(&path, max_bytes)?)
    }

    fn read_range(&self, path: String, offset: u64, length: u32) -> Result<Vec<u8>, DriveError> {
        Ok(self.0.read_range(&path, offset, length)?)
    }

    fn write_file(&self, path: String, data: Vec<u8>) -> Result<(), DriveError> {
        Ok(self.0.write_file(&path, &data)?)
    }

    fn create_file(&self, path: String) -> Result<wit::Writer, DriveError> {
        let pending = self.0.create_file(&path)?;
        Ok(wit::Writer::new(Writer(RefCell::new(Some(pending)))))
    }

    fn rename(&self, source: String, destination: String) -> Result<(), DriveError> {
        Ok(self.0.rename(&source, &destination)?)
    }

    fn delete(&self, path: String, recursive: bool) -> Result<(), DriveError> {
        Ok(self.0.delete(&path, recursive)?)
    }

    fn prune_empty_dirs(&self, path: String, stop_at: String) -> Result<(), DriveError> {
        Ok(self.0.prune_empty_dirs(&path, &stop_at)?)
    }

    fn make_dir(&self, path: String) -> Result<(), DriveError> {
        Ok(self.0.make_dir(&path)?)
    }

    fn list_dir(&self, path: String) -> Result<Vec<DirEntry>, DriveError> {
        let entries = self.0.list_dir(&path)?;
        Ok(entries.into_iter().map(|entry| DirEntry { name: entry.name, is_dir: entry.is_dir }).collect())
    }

    fn stat(&self, path: String) -> Result<FileInfo, DriveError> {
        let info = self.0.stat(&path)?;
        Ok(FileInfo { size: info.size, is_dir: info.is_dir, modified_ms: info.modified_ms })
    }

    fn open_file(&self, path: String) -> Result<wit::Reader, DriveError> {
        Ok(wit::Reader::new(Reader(self.0.open_file(&path)?)))
    }
}

impl GuestReader for Reader {
    fn size(&self) -> u64 {
        self.0.size()
    }

    fn read_at(&self, offset: u64, length: u32) -> Result<Vec<u8>, DriveError> {
        Ok(self.0.read_at(offset, length)?)
    }
}

/// Locks as lock files on the first drive that answers. Every instance of a `wasmtime serve`
/// process sees the same preopens in the same order, so they agree on that drive.
impl wit_locks::Guest for DriveFs {
    type Lease = Lease;

    fn acquire(name: String, wait_ms: u32, lease_ms: u32) -> Result<wit_locks::Lease, LockError> {
        let drives: Vec<LocalDrive> =
            preopened_paths().into_iter().map(|path| LocalDrive::new(path.clone(), PathBuf::from(path))).collect();
        // A drive that cannot hold lock files hands the lock to the next one.
        let mut last_fault = None;
        let granted = poll_with_backoff(Duration::from_millis(u64::from(wait_ms)), || {
            last_fault = None;
            for drive in &drives {
                match drive.try_lock(&name, u64::from(lease_ms)) {
                    Ok(Some(held)) => return Ok(Some(held)),
                    Ok(None) => return Ok(None),
                    Err(fault) => last_fault = Some(fault),
                }
            }
            Err(())
        });
        match granted {
            Ok(Some(held)) => Ok(wit_locks::Lease::new(Lease(held))),
            Ok(None) => Err(LockError::Timeout),
            Err(()) => Err(LockError::Unavailable(format!("no drive can hold lock files: {last_fault:?}"))),
        }
    }
}

impl wit_locks::GuestLease for Lease {}

impl GuestWriter for Writer {
    fn append(&self, data: Vec<u8>) -> Result<(), DriveError> {
        let mut pending = self.0.borrow_mut();
        let pending = pending.as_mut().ok_or_else(|| DriveError::Faulty("writer already closed".into()))?;
        Ok(pending.append(&data)?)
    }

    fn commit(&self) -> Result<(), DriveError> {
        let mut pending = self.0.borrow_mut().take().ok_or_else(|| DriveError::Faulty("writer already closed".into()))?;
        Ok(pending.commit()?)
    }

    fn abort(&self) {
        // Dropping the pending file removes its temp file.
        self.0.borrow_mut().take();
    }
}

bindings::export!(DriveFs with_types_in bindings);
