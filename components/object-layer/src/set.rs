//! The erasure set as the object layer sees it: the imported drives in set order, the layout,
//! and the paths of everything an object owns on a drive.

use crate::bindings::tessera::node::drive::{self, Drive, DriveError};
use crate::error::ObjectError;
use crate::layout::ErasureLayout;

/// Name of the metadata file in an object directory.
pub const META_FILE: &str = ".meta";
/// Name of the shard file in a data directory.
pub const SHARD_FILE: &str = "part.1";

pub struct ErasureSet {
    pub drives: Vec<Drive>,
    pub layout: ErasureLayout,
}

impl ErasureSet {
    /// The drives this node was given, with the parity from `TESSERA_PARITY` or the default.
    pub fn open() -> Result<Self, ObjectError> {
        let drives = drive::drives();
        let parity = match std::env::var("TESSERA_PARITY") {
            Ok(value) if !value.is_empty() => {
                Some(value.parse().map_err(|_| ObjectError::Internal(format!("TESSERA_PARITY={value} is not a number")))?)
            }
            _ => None,
        };
        let layout = ErasureLayout::for_drives(drives.len(), parity)?;
        Ok(Self { drives, layout })
    }

    /// Runs `op` on every drive, in set order.
    pub fn each<T>(&self, op: impl FnMut(&Drive) -> Result<T, DriveError>) -> Vec<Result<T, DriveError>> {
        self.drives.iter().map(op).collect()
    }

    /// Fails with `InsufficientQuorum` unless at least `quorum` results are `Ok`.
    pub fn require<T>(results: &[Result<T, DriveError>], quorum: usize, what: &str) -> Result<(), ObjectError> {
        let ok = results.iter().filter(|result| result.is_ok()).count();
        if ok >= quorum { Ok(()) } else { Err(Self::quorum_error(results, quorum, what)) }
    }

    /// The error for `results` that did not reach `quorum`.
    pub fn quorum_error<T>(results: &[Result<T, DriveError>], quorum: usize, what: &str) -> ObjectError {
        let ok = results.iter().filter(|result| result.is_ok()).count();
        let first_error = results.iter().find_map(|result| result.as_ref().err()).map(describe);
        ObjectError::InsufficientQuorum(format!(
            "{what}: {ok} of {} drives answered, {quorum} needed ({})",
            results.len(),
            first_error.unwrap_or_default()
        ))
    }
}

/// The directory of an object: its key path below its bucket.
pub fn object_dir(bucket: &str, key_path: &str) -> String {
    format!("{bucket}/{key_path}")
}

pub fn meta_path(object_dir: &str) -> String {
    format!("{object_dir}/{META_FILE}")
}

pub fn data_dir_path(object_dir: &str, data_dir: &str) -> String {
    format!("{object_dir}/.{data_dir}")
}

pub fn shard_path(object_dir: &str, data_dir: &str) -> String {
    format!("{object_dir}/.{data_dir}/{SHARD_FILE}")
}

/// A fresh random name for a data directory (128 bits, hex).
pub fn random_id() -> Result<String, ObjectError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| ObjectError::Internal(format!("no randomness: {error}")))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as u64).unwrap_or(0)
}

pub fn describe(error: &DriveError) -> String {
    match error {
        DriveError::NotFound => "not found".into(),
        DriveError::InvalidPath(why) => format!("invalid path: {why}"),
        DriveError::NotEmpty => "not empty".into(),
        DriveError::TooLarge => "too large".into(),
        DriveError::Faulty(why) => format!("drive faulty: {why}"),
    }
}
