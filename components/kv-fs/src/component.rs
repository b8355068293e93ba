//! The `kv-fs` component: exports `wasi:keyvalue/store` and `atomics` over folders under `/kv`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use drive_core::local::{Fault, LocalDrive, checked_segments, poll_with_backoff};

use crate::keys::{key_path, path_key};

mod bindings {
    wit_bindgen::generate!({
        world: "kv-fs",
        path: "../../wit",
        generate_all,
    });
}

use bindings::exports::wasi::keyvalue::atomics::{self, CasError, GuestCas};
use bindings::exports::wasi::keyvalue::store::{self, Error, GuestBucket, KeyResponse};

/// The preopen the stores live under.
const KV_ROOT: &str = "/kv";
/// How long a compare-and-swap waits for another one on the same key.
const CAS_WAIT: Duration = Duration::from_secs(10);
/// A swap takes a write; a holder that died keeps the key's lock file at most this long.
const CAS_LEASE_MS: u64 = 10_000;

struct KvFs;

/// One store: a folder.
pub struct Bucket {
    root: PathBuf,
}

/// A compare-and-swap: the key and the value it was read with.
pub struct Cas {
    root: PathBuf,
    key: String,
    seen: Option<Vec<u8>>,
}

fn other(fault: Fault) -> Error {
    Error::Other(format!("{fault:?}"))
}

fn drive(root: &Path) -> LocalDrive {
    LocalDrive::new(root.display().to_string(), root.to_path_buf())
}

fn read(root: &Path, key: &str) -> Result<Option<Vec<u8>>, Error> {
    match drive(root).read_file(&key_path(key), u32::MAX) {
        Ok(value) => Ok(Some(value)),
        Err(Fault::NotFound) => Ok(None),
        Err(fault) => Err(other(fault)),
    }
}

fn write(root: &Path, key: &str, value: &[u8]) -> Result<(), Error> {
    drive(root).write_file(&key_path(key), value).map_err(other)
}

/// Runs `change` holding the key's lock file.
fn under_key_lock<T>(root: &Path, key: &str, change: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    let drive = drive(root);
    let held = poll_with_backoff(CAS_WAIT, || drive.try_lock(key, CAS_LEASE_MS)).map_err(other)?;
    let Some(_held) = held else {
        return Err(Error::Other(format!("key {key:?} stayed locked for {CAS_WAIT:?}")));
    };
    change()
}

impl store::Guest for KvFs {
    type Bucket = Bucket;

    fn open(identifier: String) -> Result<store::Bucket, Error> {
        if identifier.contains('/') || checked_segments(&identifier, false).is_err() {
            return Err(Error::NoSuchStore);
        }
        if !PathBuf::from(KV_ROOT).is_dir() {
            return Err(Error::Other(format!("no {KV_ROOT} folder: grant one (--dir HOST::{KV_ROOT})")));
        }
        let root = PathBuf::from(KV_ROOT).join(&identifier);
        std::fs::create_dir_all(&root).map_err(|error| Error::Other(format!("creating {}: {error}", root.display())))?;
        Ok(store::Bucket::new(Bucket { root }))
    }
}

impl GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, Error> {
        read(&self.root, &key)
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        write(&self.root, &key, &value)
    }

    fn delete(&self, key: String) -> Result<(), Error> {
        let drive = drive(&self.root);
        let path = key_path(&key);
        drive.delete(&path, false).map_err(other)?;
        drive.prune_empty_dirs(&path, "").map_err(other)
    }

    fn exists(&self, key: String) -> Result<bool, Error> {
        match drive(&self.root).stat(&key_path(&key)) {
            Ok(info) => Ok(!info.is_dir),
            Err(Fault::NotFound) => Ok(false),
            Err(fault) => Err(other(fault)),
        }
    }

    /// Every key at once (no cursor): these stores are for one node's local use.
    fn list_keys(&self, _cursor: Option<String>) -> Result<KeyResponse, Error> {
        let drive = drive(&self.root);
        let mut keys = Vec::new();
        let mut folders = vec![String::new()];
        while let Some(folder) = folders.pop() {
            for entry in drive.list_dir(&folder).map_err(other)? {
                let path = if folder.is_empty() { entry.name } else { format!("{folder}/{}", entry.name) };
                if path.starts_with('.') {
                    continue; // .tessera: temp files and lock files, not keys.
                }
                if entry.is_dir {
                    folders.push(path);
                } else if let Some(key) = path_key(&path) {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(KeyResponse { keys, cursor: None })
    }
}

impl atomics::Guest for KvFs {
    type Cas = Cas;

    fn increment(bucket: store::BucketBorrow<'_>, key: String, delta: i64) -> Result<i64, Error> {
        let root = &bucket.get::<Bucket>().root;
        under_key_lock(root, &key, || {
            let current = match read(root, &key)? {
                None => 0,
                Some(bytes) => i64::from_le_bytes(bytes.try_into().map_err(|_| Error::Other(format!("{key:?} is not a counter")))?),
            };
            let next = current.checked_add(delta).ok_or_else(|| Error::Other("counter overflow".into()))?;
            write(root, &key, &next.to_le_bytes())?;
            Ok(next)
        })
    }

    fn swap(cas: atomics::Cas, value: Vec<u8>) -> Result<(), CasError> {
        let cas: Cas = cas.into_inner();
        let outcome = under_key_lock(&cas.root, &cas.key, || {
            let current = read(&cas.root, &cas.key)?;
            if current != cas.seen {
                return Ok(Some(current));
            }
            write(&cas.root, &cas.key, &value)?;
            Ok(None)
        });
        match outcome {
            Ok(None) => Ok(()),
            Ok(Some(current)) => Err(CasError::CasFailed(atomics::Cas::new(Cas { root: cas.root, key: cas.key, seen: current }))),
            Err(error) => Err(CasError::StoreError(error)),
        }
    }
}

impl GuestCas for Cas {
    fn new(bucket: store::BucketBorrow<'_>, key: String) -> Result<atomics::Cas, Error> {
        let root = bucket.get::<Bucket>().root.clone();
        let seen = read(&root, &key)?;
        Ok(atomics::Cas::new(Cas { root, key, seen }))
    }

    fn current(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.seen.clone())
    }
}

bindings::export!(KvFs with_types_in bindings);
