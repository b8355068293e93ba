//! Bucket configuration documents (CORS today; lifecycle and versioning later): opaque bytes
//! the gateway serialises, sealed in `<bucket>/.config.<name>` on every drive and read back by
//! read-quorum agreement.

use crate::bindings::tessera::node::drive::{self, Drive, DriveError};
use crate::buckets;
use crate::error::ObjectError;
use crate::meta;
use crate::set::ErasureSet;

const MAGIC: &[u8; 4] = b"TSRC";
/// Largest document (S3's CORS limit is 64 KiB).
const MAX_DOCUMENT_BYTES: usize = 64 << 10;

fn path(bucket: &str, name: &str) -> Result<String, ObjectError> {
    if name.is_empty() || name.len() > 32 || !name.bytes().all(|byte| byte.is_ascii_lowercase()) {
        return Err(ObjectError::Internal(format!("bad bucket configuration name {name:?}")));
    }
    Ok(format!("{bucket}/.config.{name}"))
}

pub fn get(set: &ErasureSet, bucket: &str, name: &str) -> Result<Option<Vec<u8>>, ObjectError> {
    let path = path(bucket, name)?;
    buckets::head(set, bucket)?;
    let reads = set.each(|drive| drive.read_file(&path, (MAX_DOCUMENT_BYTES + 4096) as u32));
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
    Err(ErasureSet::quorum_error(&reads, set.layout.read_quorum(), "read bucket configuration"))
}

pub fn set(set: &ErasureSet, bucket: &str, name: &str, document: Option<Vec<u8>>) -> Result<(), ObjectError> {
    let path = path(bucket, name)?;
    buckets::head(set, bucket)?;
    let results = match document {
        Some(document) if document.len() > MAX_DOCUMENT_BYTES => {
            return Err(ObjectError::InvalidArgument(format!("a bucket configuration is at most {MAX_DOCUMENT_BYTES} bytes")));
        }
        Some(document) => {
            let sealed = meta::seal(MAGIC, 1, &document);
            let writes: Vec<(&Drive, String, Vec<u8>)> = set.drives.iter().map(|drive| (drive, path.clone(), sealed.clone())).collect();
            drive::write_file_all(&writes)
        }
        None => set.each(|drive| drive.delete(&path, false)),
    };
    ErasureSet::require(&results, set.layout.write_quorum(), "write bucket configuration")
}
