//! Tags. An object's tags live in its version record (metadata format 2) and change without a
//! new version: the metadata is rewritten on every drive under the key's lock, the bytes, ETag
//! and time stay (and, in a replicated bucket, the version is queued to be sent again). A bucket's tags are a sealed `.tags` file in the bucket directory.

use crate::bindings::tessera::node::drive::{self, Drive, DriveError};
use crate::buckets;
use crate::error::ObjectError;
use crate::get;
use crate::lock;
use crate::meta::{self, FormatError, MAX_META_BYTES, Reader, ReplicationState, VersionKind, Writer};
use crate::names::key_to_path;
use crate::set::{self, ErasureSet};

/// Most tags on an object, and on a bucket (as S3).
pub const MAX_OBJECT_TAGS: usize = 10;
pub const MAX_BUCKET_TAGS: usize = 50;
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 256;
const BUCKET_TAGS_FILE: &str = ".tags";
const MAGIC: &[u8; 4] = b"TSRT";

/// The rules S3 applies to a tag set.
pub fn validate(tags: &[(String, String)], max: usize) -> Result<(), ObjectError> {
    if tags.len() > max {
        return Err(ObjectError::InvalidTag(format!("at most {max} tags")));
    }
    for (index, (key, value)) in tags.iter().enumerate() {
        if key.is_empty() || key.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(ObjectError::InvalidTag(format!("a tag key has 1 to {MAX_TAG_KEY_CHARS} characters")));
        }
        if value.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(ObjectError::InvalidTag(format!("a tag value has at most {MAX_TAG_VALUE_CHARS} characters")));
        }
        if key.starts_with("aws:") {
            return Err(ObjectError::InvalidTag("tag keys starting with aws: are reserved".into()));
        }
        if tags[..index].iter().any(|(earlier, _)| earlier == key) {
            return Err(ObjectError::InvalidTag(format!("the tag key {key} appears twice")));
        }
    }
    Ok(())
}

pub fn set_object_tags(
    set: &ErasureSet,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    tags: Vec<(String, String)>,
) -> Result<(), ObjectError> {
    validate(&tags, MAX_OBJECT_TAGS)?;
    let object_dir = set::object_dir(bucket, &key_to_path(key)?);
    buckets::head(set, bucket)?;
    let _lease = lock::object(bucket, key)?;
    let metas = get::read_metas(set, &object_dir);
    let current = get::agreed(&metas, set.layout.read_quorum(), version_id).cloned();
    let Some(current) = current.filter(|version| version.kind == VersionKind::Object) else {
        return Err(match get::find(set, bucket, key, version_id) {
            Err(error) => error,
            Ok(_) => ObjectError::NoSuchKey,
        });
    };
    let meta_path = set::meta_path(&object_dir);
    // New tags are replicated as the version again (same id and time: the target replaces its
    // copy); a replica's are not (it is never sent back).
    let is_replica = current.replication == Some(ReplicationState::Replica);
    let queued = !is_replica
        && crate::replication::queue_if_replicated(set, bucket, key, &current.version_id, current.modified_ms, &tags, false)?.is_some();
    // Each agreeing drive keeps its own shard index and inline shard, and its other versions;
    // only this version's tags change.
    let mut previous = Vec::new();
    let mut writes: Vec<(&Drive, String, Vec<u8>)> = Vec::new();
    for (drive, meta) in set.drives.iter().zip(&metas) {
        let Some(meta) = meta.meta() else { continue };
        let Some(index) = meta.versions.iter().position(|copy| copy.agrees_with(&current)) else { continue };
        let mut tagged = meta.clone();
        tagged.versions[index].tags = tags.clone();
        if queued {
            tagged.versions[index].replication = Some(ReplicationState::Pending);
        }
        previous.push((drive, meta.encode()));
        writes.push((drive, meta_path.clone(), tagged.encode()));
    }
    let results = drive::write_file_all(&writes);
    if let Err(error) = ErasureSet::require(&results, set.layout.write_quorum(), "write tags") {
        // Put the old tags back where the new ones landed: the tags stay as they were.
        for ((drive, bytes), result) in previous.iter().zip(&results) {
            if result.is_ok() {
                let _ = drive.write_file(&meta_path, bytes);
            }
        }
        return Err(error);
    }
    Ok(())
}

fn bucket_tags_path(bucket: &str) -> String {
    format!("{bucket}/{BUCKET_TAGS_FILE}")
}

fn encode(tags: &[(String, String)]) -> Vec<u8> {
    let mut body = Writer::default();
    body.pairs(tags);
    meta::seal(MAGIC, 1, &body.0)
}

fn decode(bytes: &[u8]) -> Result<Vec<(String, String)>, FormatError> {
    let (_, body) = meta::unseal(MAGIC, 1..=1, bytes)?;
    let mut input = Reader(body);
    let tags = input.pairs(MAX_BUCKET_TAGS as u32, "too many tags")?;
    if !input.0.is_empty() {
        return Err(FormatError::Invalid("trailing bytes"));
    }
    Ok(tags)
}

pub fn get_bucket_tags(set: &ErasureSet, bucket: &str) -> Result<Vec<(String, String)>, ObjectError> {
    buckets::head(set, bucket)?;
    let reads = set.each(|drive| drive.read_file(&bucket_tags_path(bucket), MAX_META_BYTES as u32));
    let decoded: Vec<Vec<(String, String)>> = reads.iter().filter_map(|read| decode(read.as_ref().ok()?).ok()).collect();
    if let Some(tags) = decoded.iter().find(|tags| decoded.iter().filter(|other| other == tags).count() >= set.layout.read_quorum()) {
        return Ok(tags.clone());
    }
    let missing = reads.iter().filter(|read| matches!(read, Err(DriveError::NotFound))).count();
    if missing > set.layout.drive_count() - set.layout.write_quorum() {
        return Err(ObjectError::NoSuchTagSet);
    }
    Err(ErasureSet::quorum_error(&reads, set.layout.read_quorum(), "read bucket tags"))
}

pub fn set_bucket_tags(set: &ErasureSet, bucket: &str, tags: Option<Vec<(String, String)>>) -> Result<(), ObjectError> {
    buckets::head(set, bucket)?;
    let path = bucket_tags_path(bucket);
    let results = match tags {
        Some(tags) => {
            validate(&tags, MAX_BUCKET_TAGS)?;
            let encoded = encode(&tags);
            let writes: Vec<(&Drive, String, Vec<u8>)> = set.drives.iter().map(|drive| (drive, path.clone(), encoded.clone())).collect();
            drive::write_file_all(&writes)
        }
        None => set.each(|drive| drive.delete(&path, false)),
    };
    ErasureSet::require(&results, set.layout.write_quorum(), "write bucket tags")
}
