//! Bucket versioning: whether a put adds a version or replaces the "null" one, and what a
//! delete without a version id leaves (nothing, or a delete marker).
//!
//! The state is bucket configuration (`versioning`). A bucket starts unversioned; once enabled
//! it can only be suspended, never unversioned again (as S3).

use crate::bindings::exports::tessera::node::objects::ReplicaSource;
use crate::config;
use crate::error::ObjectError;
use crate::meta::{ObjectMeta, ObjectVersion};
use crate::set::{self, ErasureSet};

/// The version id of what an unversioned or suspended bucket writes.
pub const NULL_VERSION: &str = "null";
const CONFIG: &str = "versioning";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Unversioned,
    Enabled,
    Suspended,
}

/// The bucket's mode; the caller has checked that the bucket exists.
pub fn mode(set: &ErasureSet, bucket: &str) -> Result<Mode, ObjectError> {
    Ok(match config::get_bucket_unchecked(set, bucket, CONFIG)?.as_deref() {
        Some(b"Enabled") => Mode::Enabled,
        Some(b"Suspended") => Mode::Suspended,
        _ => Mode::Unversioned,
    })
}

pub fn set_mode(set: &ErasureSet, bucket: &str, mode: Mode) -> Result<(), ObjectError> {
    let document: &[u8] = match mode {
        Mode::Enabled => b"Enabled",
        Mode::Suspended => b"Suspended",
        Mode::Unversioned => return Err(ObjectError::InvalidArgument("versioning can be enabled or suspended, not removed".into())),
    };
    config::set_bucket(set, bucket, CONFIG, Some(document.to_vec()))
}

/// The id of a new version: what a versioned bucket gives each, "null" otherwise. Ids start
/// with the time, so that they sort by age, then 16 random hex digits.
pub fn new_version_id(mode: Mode) -> Result<String, ObjectError> {
    if mode != Mode::Enabled {
        return Ok(NULL_VERSION.to_owned());
    }
    Ok(format!("{:013x}{}", set::now_ms(), &set::random_id()?[..19]))
}

/// Whether `id` can be a version id this node made (a replica's must be: it becomes a name).
pub fn check_version_id(id: &str) -> Result<(), ObjectError> {
    if id.len() != 32 || !id.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(ObjectError::InvalidArgument(format!("{id:?} is not a version id of a versioned bucket")));
    }
    Ok(())
}

/// The id a replica gets in a versioned bucket: its source's, or, from an unversioned source
/// ("null"), one made of its time and what it is, the same on every retry.
pub fn replica_version_id(source: &ReplicaSource, key: &str, etag: &str) -> Result<String, ObjectError> {
    if source.version_id != NULL_VERSION {
        check_version_id(&source.version_id)?;
        return Ok(source.version_id.clone());
    }
    let digest = blake3::hash(format!("{key}\0{etag}\0{}", source.modified_ms).as_bytes()).to_hex();
    Ok(format!("{:013x}{}", source.modified_ms, &digest[..19]))
}

/// A drive's versions once `version` is added, replacing a version with the same id ("null"
/// when not versioning): on top, or for a replica (`in_order`), where its time puts it, since
/// newer versions may have arrived first. Returns the data directories no version points to
/// any more.
pub fn add_version(previous: Option<ObjectMeta>, version: ObjectVersion, in_order: bool) -> (ObjectMeta, Vec<String>) {
    let mut versions = previous.map(|meta| meta.versions).unwrap_or_default();
    let mut freed = Vec::new();
    versions.retain(|old| {
        let replaced = old.version_id == version.version_id;
        if replaced && !old.data_dir.is_empty() && old.data_dir != version.data_dir {
            freed.push(old.data_dir.clone());
        }
        !replaced
    });
    let at = if in_order {
        versions
            .iter()
            .position(|old| (old.modified_ms, &old.version_id) < (version.modified_ms, &version.version_id))
            .unwrap_or(versions.len())
    } else {
        0
    };
    versions.insert(at, version);
    (ObjectMeta { versions }, freed)
}
