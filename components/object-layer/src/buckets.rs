//! Buckets: a directory of the same name on every drive, with a `.bucket` file recording when
//! it was created. A bucket exists when a read quorum of drives has it.

use std::collections::BTreeMap;

use crate::bindings::exports::tessera::node::objects::BucketInfo;
use crate::bindings::tessera::node::drive::DriveError;
use crate::error::ObjectError;
use crate::names::validate_bucket;
use crate::set::{ErasureSet, now_ms};

pub const BUCKET_FILE: &str = ".bucket";
pub const MAX_BUCKET_FILE_BYTES: u32 = 4096;

pub fn create(set: &ErasureSet, bucket: &str) -> Result<(), ObjectError> {
    validate_bucket(bucket)?;
    if head(set, bucket).is_ok() {
        return Err(ObjectError::BucketExists);
    }
    let created = now_ms().to_string();
    let results = set.each(|drive| {
        drive.make_dir(bucket)?;
        drive.write_file(&format!("{bucket}/{BUCKET_FILE}"), created.as_bytes())
    });
    ErasureSet::require(&results, set.layout.write_quorum(), "create bucket")
}

pub fn head(set: &ErasureSet, bucket: &str) -> Result<BucketInfo, ObjectError> {
    // Names that break the rules cannot exist: answer without touching the drives.
    if validate_bucket(bucket).is_err() {
        return Err(ObjectError::NoSuchBucket);
    }
    let results = set.each(|drive| drive.read_file(&format!("{bucket}/{BUCKET_FILE}"), MAX_BUCKET_FILE_BYTES));
    let found: Vec<&Vec<u8>> = results.iter().filter_map(|result| result.as_ref().ok()).collect();
    if found.len() >= set.layout.read_quorum() {
        let created_ms = found.iter().find_map(|bytes| std::str::from_utf8(bytes).ok()?.trim().parse().ok());
        return Ok(BucketInfo { name: bucket.to_owned(), created_ms: created_ms.unwrap_or(0) });
    }
    // A bucket is created on at least a write quorum of drives (see `get::find`).
    let missing = results.iter().filter(|result| matches!(result, Err(DriveError::NotFound))).count();
    if missing > set.layout.drive_count() - set.layout.write_quorum() {
        return Err(ObjectError::NoSuchBucket);
    }
    Err(ErasureSet::quorum_error(&results, set.layout.read_quorum(), "head bucket"))
}

pub fn list(set: &ErasureSet) -> Result<Vec<BucketInfo>, ObjectError> {
    let listings = set.each(|drive| drive.list_dir(""));
    ErasureSet::require(&listings, set.layout.read_quorum(), "list buckets")?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for entries in listings.iter().flatten() {
        for entry in entries.iter().filter(|entry| entry.is_dir && validate_bucket(&entry.name).is_ok()) {
            *seen.entry(entry.name.clone()).or_default() += 1;
        }
    }
    let mut buckets = Vec::new();
    for (name, count) in seen {
        if count >= set.layout.read_quorum()
            && let Ok(info) = head(set, &name)
        {
            buckets.push(info);
        }
    }
    Ok(buckets)
}

pub fn delete(set: &ErasureSet, bucket: &str) -> Result<(), ObjectError> {
    head(set, bucket)?;
    let listings = set.each(|drive| drive.list_dir(bucket));
    let has_objects = listings.iter().flatten().any(|entries| entries.iter().any(|entry| !entry.name.starts_with('.')));
    if has_objects {
        return Err(ObjectError::BucketNotEmpty);
    }
    let results = set.each(|drive| drive.delete(bucket, true));
    ErasureSet::require(&results, set.layout.write_quorum(), "delete bucket")
}
