//! The `drive-fs` component: `tessera:node/drive` over the preopened directories.

use std::cell::RefCell;
use std::path::PathBuf;

use crate::local::{Fault, LocalDrive, PendingFile};

mod bindings {
    wit_bindgen::generate!({
        world: "drive-provider",
        path: "../../wit",
    });
}

use bindings::exports::tessera::node::drive::{
    self as wit, DirEntry, DriveBorrow, DriveError, DriveUsage, FileInfo, Guest, GuestDrive, GuestWriter, WriterBorrow,
};

struct DriveFs;

/// One preopened directory.
pub struct Drive(LocalDrive);

/// A file being written; dropping it uncommitted aborts it.
pub struct Writer(RefCell<Option<PendingFile>>);

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

/// The preopens, by guest path, in name order.
fn preopened_paths() -> Vec<String> {
    let mut paths: Vec<String> =
        wasip2::filesystem::preopens::get_directories().into_iter().map(|(_descriptor, path)| path).collect();
    paths.sort();
    paths
}

impl Guest for DriveFs {
    type Drive = Drive;
    type Writer = Writer;

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

    fn usage(&self) -> Result<DriveUsage, DriveError> {
        Err(DriveError::Faulty("wasi:filesystem does not report space".into()))
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
}

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
