//! The `drive-kv` component: `tessera:node/drive` and `locks` over `wasi:keyvalue` stores.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::drive::{KvDrive, KvWriter};
use crate::kv_lock::{self, KvLease};
use crate::records::FileRecord;
use crate::store::{KvError, KvStore};

mod bindings {
    wit_bindgen::generate!({
        world: "drive-kv-provider",
        path: "../../wit",
        generate_all,
    });
}

use bindings::exports::tessera::node::drive::{
    self as wit, DirEntry, DriveBorrow, DriveError, DriveUsage, FileInfo, Guest, GuestDrive, GuestReader, GuestWriter, WriterBorrow,
};
use bindings::exports::tessera::node::locks::{self as wit_locks, LockError};
use bindings::wasi::keyvalue::{atomics, store};

/// The stores that are the drives, in erasure-set order, unless `TESSERA_KV_STORES` lists others.
const DEFAULT_STORES: &str = "d1,d2,d3,d4";

/// A store, or why it could not be opened: a drive keeps its position in the set either way.
#[derive(Clone)]
struct Bucket(Rc<Result<store::Bucket, String>>);

fn describe(error: store::Error) -> String {
    match error {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied (is the store listed in key_value_stores?)".into(),
        store::Error::Other(why) => why,
    }
}

impl Bucket {
    fn open(label: &str) -> Self {
        Self(Rc::new(store::open(label).map_err(describe)))
    }

    fn get_bucket(&self) -> Result<&store::Bucket, KvError> {
        self.0.as_ref().as_ref().map_err(|why| KvError(why.clone()))
    }
}

impl KvStore for Bucket {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.get_bucket()?.get(key).map_err(|error| KvError(describe(error)))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.get_bucket()?.set(key, value).map_err(|error| KvError(describe(error)))
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.get_bucket()?.delete(key).map_err(|error| KvError(describe(error)))
    }

    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, KvError> {
        let cas = atomics::Cas::new(self.get_bucket()?, key).map_err(|error| KvError(describe(error)))?;
        if cas.current().map_err(|error| KvError(describe(error)))?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(error)) => Err(KvError(describe(error))),
        }
    }
}

fn store_labels() -> Vec<String> {
    let labels = std::env::var("TESSERA_KV_STORES").unwrap_or_else(|_| DEFAULT_STORES.into());
    labels.split(',').map(str::trim).filter(|label| !label.is_empty()).map(str::to_owned).collect()
}

struct DriveKv;

pub struct Drive(KvDrive<Bucket>);

pub struct Writer(RefCell<KvWriter<Bucket>>);

pub struct Reader {
    drive: KvDrive<Bucket>,
    record: FileRecord,
}

pub struct Lease(#[allow(dead_code)] KvLease<Bucket>);

drive_core::fault_into_drive_error!(DriveError);

impl Guest for DriveKv {
    type Drive = Drive;
    type Writer = Writer;
    type Reader = Reader;

    fn drives() -> Vec<wit::Drive> {
        store_labels().into_iter().map(|label| wit::Drive::new(Drive(KvDrive::new(format!("kv:{label}"), Bucket::open(&label))))).collect()
    }

    fn commit_all(writers: Vec<WriterBorrow<'_>>) -> Vec<Result<(), DriveError>> {
        writers.iter().map(|writer| writer.get::<Writer>().commit()).collect()
    }

    fn write_file_all(writes: Vec<(DriveBorrow<'_>, String, Vec<u8>)>) -> Vec<Result<(), DriveError>> {
        writes.iter().map(|(drive, path, data)| drive.get::<Drive>().0.write_file(path, data).map_err(DriveError::from)).collect()
    }
}

impl GuestDrive for Drive {
    fn label(&self) -> String {
        self.0.label().to_owned()
    }

    /// Key-value stores do not report space: zeros ("unknown") once the store answers.
    fn usage(&self) -> Result<DriveUsage, DriveError> {
        self.0.check().map_err(DriveError::from)?;
        Ok(DriveUsage { total_bytes: 0, free_bytes: 0 })
    }

    fn read_file(&self, path: String, max_bytes: u32) -> Result<Vec<u8>, DriveError> {
        self.0.read_file(&path, max_bytes).map_err(DriveError::from)
    }

    fn read_range(&self, path: String, offset: u64, length: u32) -> Result<Vec<u8>, DriveError> {
        self.0.read_range(&path, offset, length).map_err(DriveError::from)
    }

    fn write_file(&self, path: String, data: Vec<u8>) -> Result<(), DriveError> {
        self.0.write_file(&path, &data).map_err(DriveError::from)
    }

    fn create_file(&self, path: String) -> Result<wit::Writer, DriveError> {
        let writer = self.0.create_file(&path).map_err(DriveError::from)?;
        Ok(wit::Writer::new(Writer(RefCell::new(writer))))
    }

    fn rename(&self, source: String, destination: String) -> Result<(), DriveError> {
        self.0.rename(&source, &destination).map_err(DriveError::from)
    }

    fn delete(&self, path: String, recursive: bool) -> Result<(), DriveError> {
        self.0.delete(&path, recursive).map_err(DriveError::from)
    }

    fn prune_empty_dirs(&self, path: String, stop_at: String) -> Result<(), DriveError> {
        self.0.prune_empty_dirs(&path, &stop_at).map_err(DriveError::from)
    }

    fn make_dir(&self, path: String) -> Result<(), DriveError> {
        self.0.make_dir(&path).map_err(DriveError::from)
    }

    fn list_dir(&self, path: String) -> Result<Vec<DirEntry>, DriveError> {
        let entries = self.0.list_dir(&path).map_err(DriveError::from)?;
        Ok(entries.into_iter().map(|entry| DirEntry { name: entry.name, is_dir: entry.is_dir }).collect())
    }

    fn stat(&self, path: String) -> Result<FileInfo, DriveError> {
        let info = self.0.stat(&path).map_err(DriveError::from)?;
        Ok(FileInfo { size: info.size, is_dir: info.is_dir, modified_ms: info.modified_ms })
    }

    fn open_file(&self, path: String) -> Result<wit::Reader, DriveError> {
        let record = self.0.open_file(&path).map_err(DriveError::from)?;
        Ok(wit::Reader::new(Reader { drive: self.0.clone(), record }))
    }
}

/// A reader keeps the record it opened. Its chunks stay until a newer version of the path
/// frees them; a read after that fails with not-found (the object layer then reads the shard
/// from other drives or retries). Key-value stores have no open files to keep bytes alive.
impl GuestReader for Reader {
    fn size(&self) -> u64 {
        self.record.size
    }

    fn read_at(&self, offset: u64, length: u32) -> Result<Vec<u8>, DriveError> {
        if length as usize > drive_core::local::MAX_CHUNK_BYTES {
            return Err(DriveError::TooLarge);
        }
        self.drive.read_record(&self.record, offset, length as usize).map_err(DriveError::from)
    }
}

impl GuestWriter for Writer {
    fn append(&self, data: Vec<u8>) -> Result<(), DriveError> {
        self.0.borrow_mut().append(&data).map_err(DriveError::from)
    }

    fn commit(&self) -> Result<(), DriveError> {
        self.0.borrow_mut().commit().map_err(DriveError::from)
    }

    fn abort(&self) {
        self.0.borrow_mut().abort();
    }
}

/// Key locks in the first store that answers: every instance opens the same stores in the same
/// order, so they agree on it.
impl wit_locks::Guest for DriveKv {
    type Lease = Lease;

    fn acquire(name: String, wait_ms: u32, lease_ms: u32) -> Result<wit_locks::Lease, LockError> {
        let mut last_error = None;
        for label in store_labels() {
            let bucket = Bucket::open(&label);
            match kv_lock::acquire(&bucket, &format!("key:{name}"), Duration::from_millis(u64::from(wait_ms)), u64::from(lease_ms)) {
                Ok(Some(lease)) => return Ok(wit_locks::Lease::new(Lease(lease))),
                Ok(None) => return Err(LockError::Timeout),
                Err(error) => last_error = Some(error),
            }
        }
        Err(LockError::Unavailable(format!("no key-value store can hold locks: {last_error:?}")))
    }
}

impl wit_locks::GuestLease for Lease {}

bindings::export!(DriveKv with_types_in bindings);
