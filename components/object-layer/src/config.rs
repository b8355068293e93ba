//! Configuration documents: opaque bytes the gateway serialises, sealed on every drive and read
//! back by read-quorum agreement.
//! - bucket configuration (`cors`, `policy`, …) in `<bucket>/.config.<name>`;
//! - node configuration (`iam`: users and policies) in `.tessera/config/<name>`, replaced only
//!   under a lock and, on request, only if it is still the version the caller read.

use crate::bindings::tessera::node::drive::{self, Drive, DriveError};
use crate::buckets;
use crate::error::ObjectError;
use crate::lock;
use crate::meta;
use crate::set::ErasureSet;

const MAGIC: &[u8; 4] = b"TSRC";
/// Largest bucket document (S3's CORS limit is 64 KiB; a bucket policy's 20 KiB).
const MAX_BUCKET_DOCUMENT_BYTES: usize = 64 << 10;
/// Largest node document: the identity store holds every user and policy.
const MAX_NODE_DOCUMENT_BYTES: usize = 1 << 20;
const NODE_CONFIG_DIR: &str = ".tessera/config";

fn checked_name(name: &str) -> Result<&str, ObjectError> {
    if name.is_empty() || name.len() > 32 || !name.bytes().all(|byte| byte.is_ascii_lowercase()) {
        return Err(ObjectError::Internal(format!("bad configuration name {name:?}")));
    }
    Ok(name)
}

/// The document at `path` that a read quorum agrees on; none when enough drives lack it.
fn read(set: &ErasureSet, path: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, ObjectError> {
    let reads = set.each(|drive| drive.read_file(path, (max_bytes + 4096) as u32));
    let documents: Vec<Vec<u8>> =
        reads.iter().filter_map(|read| Some(meta::unseal(MAGIC, 1..=1, read.as_ref().ok()?).ok()?.1.to_vec())).collect();
    if let Some(document) =
        documents.iter().find(|document| documents.iter().filter(|other| other == document).count() >= set.layout.read_quorum())
    {
        return Ok(Some(document.clone()));
    }
    let missing = reads.iter().filter(|read| matches!(read, Err(DriveError::NotFound))).count();
    if missing > set.layout.drive_count() - set.layout.write_quorum() {
        return Ok(None);
    }
    Err(ErasureSet::quorum_error(&reads, set.layout.read_quorum(), "read a configuration document"))
}

fn write(set: &ErasureSet, path: &str, document: Option<Vec<u8>>, max_bytes: usize) -> Result<(), ObjectError> {
    let results = match document {
        Some(document) if document.len() > max_bytes => {
            return Err(ObjectError::InvalidArgument(format!("a configuration document is at most {max_bytes} bytes")));
        }
        Some(document) => {
            let sealed = meta::seal(MAGIC, 1, &document);
            let writes: Vec<(&Drive, String, Vec<u8>)> = set.drives.iter().map(|drive| (drive, path.to_owned(), sealed.clone())).collect();
            drive::write_file_all(&writes)
        }
        None => set.each(|drive| drive.delete(path, false)),
    };
    ErasureSet::require(&results, set.layout.write_quorum(), "write a configuration document")
}

pub fn get_bucket(set: &ErasureSet, bucket: &str, name: &str) -> Result<Option<Vec<u8>>, ObjectError> {
    buckets::head(set, bucket)?;
    get_bucket_unchecked(set, bucket, name)
}

/// `get_bucket` for a caller that already knows the bucket exists (a put, a delete): one
/// quorum read fewer on the hot path.
pub fn get_bucket_unchecked(set: &ErasureSet, bucket: &str, name: &str) -> Result<Option<Vec<u8>>, ObjectError> {
    let path = format!("{bucket}/.config.{}", checked_name(name)?);
    read(set, &path, MAX_BUCKET_DOCUMENT_BYTES)
}

pub fn set_bucket(set: &ErasureSet, bucket: &str, name: &str, document: Option<Vec<u8>>) -> Result<(), ObjectError> {
    let path = format!("{bucket}/.config.{}", checked_name(name)?);
    buckets::head(set, bucket)?;
    write(set, &path, document, MAX_BUCKET_DOCUMENT_BYTES)
}

/// A node document's version tag: the hash of its bytes ("" when unset).
pub fn etag(document: Option<&[u8]>) -> String {
    document.map(|bytes| blake3::hash(bytes).to_hex().to_string()).unwrap_or_default()
}

pub fn get_node(set: &ErasureSet, name: &str) -> Result<Option<(Vec<u8>, String)>, ObjectError> {
    let path = format!("{NODE_CONFIG_DIR}/{}", checked_name(name)?);
    Ok(read(set, &path, MAX_NODE_DOCUMENT_BYTES)?.map(|document| {
        let tag = etag(Some(&document));
        (document, tag)
    }))
}

/// Replaces a node document; with `if_match`, only while its etag is still that one.
pub fn set_node(set: &ErasureSet, name: &str, document: Option<Vec<u8>>, if_match: Option<&str>) -> Result<(), ObjectError> {
    let path = format!("{NODE_CONFIG_DIR}/{}", checked_name(name)?);
    let _lease = lock::node_config(name)?;
    if let Some(expected) = if_match {
        let current = read(set, &path, MAX_NODE_DOCUMENT_BYTES)?;
        if etag(current.as_deref()) != expected {
            return Err(ObjectError::PreconditionFailed);
        }
    }
    write(set, &path, document, MAX_NODE_DOCUMENT_BYTES)
}
