//! Reading objects: find the version a read quorum of drives agrees on, open its shard files,
//! then stream its blocks (`shard_io`). Each block is rebuilt from the data shards when they
//! are all sound (no decoding, just concatenation); a shard that is missing or fails its bitrot
//! hash is replaced by parity, and the object is queued for healing.

use std::cell::RefCell;

use crate::bindings::exports::tessera::node::objects::{self as wit, ByteRange, ContentRange, GuestDownload, ObjectInfo};
use crate::bindings::tessera::node::drive::DriveError;
use crate::buckets;
use crate::error::ObjectError;
use crate::heal_queue;
use crate::meta::{MAX_META_BYTES, ObjectMeta, ObjectVersion, VersionKind};
use crate::names::key_to_path;
use crate::set::{self, ErasureSet};
use crate::shard_io::ShardSet;

/// The version of an object that a read quorum agrees on, with each drive's copy of it.
pub struct Found {
    pub version: ObjectVersion,
    /// By drive position: that drive's copy of `version` when it agrees.
    pub agreeing: Vec<Option<ObjectVersion>>,
    pub object_dir: String,
}

impl Found {
    pub fn info(&self, bucket: &str, key: &str) -> ObjectInfo {
        info(bucket, key, &self.version)
    }
}

/// What a client learns about one version.
pub fn info(bucket: &str, key: &str, version: &ObjectVersion) -> ObjectInfo {
    ObjectInfo {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size: version.size,
        etag: version.etag.clone(),
        modified_ms: version.modified_ms,
        content_type: version.content_type.clone(),
        user_metadata: version.user_metadata.clone(),
        headers: version.headers.clone(),
        checksums: version.checksums.clone(),
        tags: version.tags.clone(),
        version_id: version.version_id.clone(),
        replication_status: version.replication.map(crate::put::wit_replication_status),
        replication_task: None,
    }
}

/// One drive's metadata file for an object.
#[derive(Debug, Clone)]
pub enum MetaRead {
    /// Decoded: every version this drive knows, newest first (never empty).
    Present(ObjectMeta),
    /// No metadata file on this drive.
    Missing,
    /// A file that fails to decode (bad checksum, unknown format, truncated, no version).
    Corrupt,
    /// The drive did not answer.
    Offline,
}

impl MetaRead {
    pub fn meta(&self) -> Option<&ObjectMeta> {
        match self {
            Self::Present(meta) => Some(meta),
            _ => None,
        }
    }

    /// This drive's newest version.
    pub fn version(&self) -> Option<&ObjectVersion> {
        self.meta()?.latest()
    }

    /// The newest version, or the one with `version_id`.
    pub fn pick(&self, version_id: Option<&str>) -> Option<&ObjectVersion> {
        match version_id {
            None => self.version(),
            Some(id) => self.meta()?.version(id),
        }
    }
}

/// The metadata file of an object directory on every drive.
pub fn read_metas(set: &ErasureSet, object_dir: &str) -> Vec<MetaRead> {
    let meta_path = set::meta_path(object_dir);
    set.each(|drive| drive.read_file(&meta_path, MAX_META_BYTES as u32))
        .into_iter()
        .map(|read| match read {
            Ok(bytes) => match ObjectMeta::decode(&bytes) {
                Ok(meta) if !meta.versions.is_empty() => MetaRead::Present(meta),
                Ok(_) | Err(_) => MetaRead::Corrupt,
            },
            Err(DriveError::NotFound) => MetaRead::Missing,
            Err(_) => MetaRead::Offline,
        })
        .collect()
}

/// The newest version that at least `read_quorum` drives agree on.
pub fn agreed_version(metas: &[MetaRead], read_quorum: usize) -> Option<&ObjectVersion> {
    agreed(metas, read_quorum, None)
}

/// The newest version (or the one with `version_id`) that `read_quorum` drives agree on.
pub fn agreed<'a>(metas: &'a [MetaRead], read_quorum: usize, version_id: Option<&str>) -> Option<&'a ObjectVersion> {
    let versions: Vec<&ObjectVersion> = metas.iter().filter_map(|meta| meta.pick(version_id)).collect();
    versions
        .iter()
        .map(|candidate| (versions.iter().filter(|other| other.agrees_with(candidate)).count(), *candidate))
        .filter(|(votes, _)| *votes >= read_quorum)
        .max_by_key(|(votes, candidate)| (candidate.modified_ms, *votes))
        .map(|(_, version)| version)
}

/// Every version a read quorum agrees on, newest first (by time, then by id): what a listing
/// of versions shows and what healing brings every drive to.
pub fn agreed_versions(metas: &[MetaRead], read_quorum: usize) -> Vec<ObjectVersion> {
    let mut ids: Vec<&str> =
        metas.iter().filter_map(MetaRead::meta).flat_map(|meta| meta.versions.iter().map(|v| v.version_id.as_str())).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut versions: Vec<ObjectVersion> = ids.into_iter().filter_map(|id| agreed(metas, read_quorum, Some(id)).cloned()).collect();
    versions.sort_by(|a, b| (b.modified_ms, &b.version_id).cmp(&(a.modified_ms, &a.version_id)));
    versions
}

/// Reads the metadata of `key` on every drive and picks the newest version (or the one named)
/// that a read quorum agrees on. A delete marker is an error that carries its id.
pub fn find(set: &ErasureSet, bucket: &str, key: &str, version_id: Option<&str>) -> Result<Found, ObjectError> {
    let object_dir = set::object_dir(bucket, &key_to_path(key)?);
    let metas = read_metas(set, &object_dir);
    let read_quorum = set.layout.read_quorum();
    if let Some(version) = agreed(&metas, read_quorum, version_id) {
        if version.kind == VersionKind::DeleteMarker {
            return Err(ObjectError::DeleteMarker(version.version_id.clone()));
        }
        let agreeing = metas.iter().map(|meta| meta.pick(version_id).filter(|v| v.agrees_with(version)).cloned()).collect();
        return Ok(Found { version: version.clone(), agreeing, object_dir });
    }
    // A committed version is on at least a write quorum of drives, so more drives without it
    // than that leaves mean it does not exist, even with others offline. Corrupt copies count
    // as absent: a key whose metadata rotted everywhere reads as missing and can be written.
    let lacking = metas
        .iter()
        .filter(|meta| {
            matches!(meta, MetaRead::Missing | MetaRead::Corrupt)
                || (matches!(meta, MetaRead::Present(_)) && meta.pick(version_id).is_none())
        })
        .count();
    if lacking > set.layout.drive_count() - set.layout.write_quorum() {
        buckets::head(set, bucket)?;
        return Err(if version_id.is_some() { ObjectError::NoSuchVersion } else { ObjectError::NoSuchKey });
    }
    Err(ObjectError::InsufficientQuorum(format!("no version of {bucket}/{key} is agreed by {read_quorum} drives")))
}

/// Resolves an HTTP range against an object size.
pub fn resolve_range(range: &ByteRange, size: u64) -> Result<ContentRange, ObjectError> {
    let (start, end_inclusive) = match *range {
        ByteRange::Span(wit::Span { first, last }) => {
            if first >= size {
                return Err(ObjectError::InvalidRange);
            }
            let last = last.unwrap_or(u64::MAX).min(size - 1);
            if last < first {
                return Err(ObjectError::InvalidRange);
            }
            (first, last)
        }
        ByteRange::Suffix(count) => {
            if count == 0 || size == 0 {
                return Err(ObjectError::InvalidRange);
            }
            (size.saturating_sub(count), size - 1)
        }
    };
    Ok(ContentRange { start, length: end_inclusive - start + 1 })
}

/// The `download` resource: an object being read.
pub struct Download {
    state: RefCell<Reading>,
}

struct Reading {
    set: ErasureSet,
    bucket: String,
    key: String,
    found: Found,
    shards: ShardSet,
    /// Next byte to return, and one past the last.
    next: u64,
    end: u64,
}

/// How many times a get re-reads the metadata when the version it found was replaced before
/// its shard files could be opened.
const OPEN_ATTEMPTS: usize = 3;

impl Download {
    pub fn open(
        set: ErasureSet,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<(ObjectInfo, Option<ContentRange>, Self), ObjectError> {
        let mut attempt = 0;
        let (found, shards) = loop {
            attempt += 1;
            let found = find(&set, bucket, key, version_id)?;
            let shards = ShardSet::open(&set, &found, |_| true);
            // A commit replaced this version between reading its metadata and opening its
            // files: the newer version is complete by now, read that one.
            if shards.available() < usize::from(found.version.data_count) && shards.vanished() > 0 && attempt < OPEN_ATTEMPTS {
                continue;
            }
            break (found, shards);
        };
        let info = found.info(bucket, key);
        let content_range = range.map(|range| resolve_range(&range, found.version.size)).transpose()?;
        let (next, end) = match &content_range {
            Some(range) => (range.start, range.start + range.length),
            None => (0, found.version.size),
        };
        let reading = Reading { set, bucket: bucket.to_owned(), key: key.to_owned(), found, shards, next, end };
        Ok((info, content_range, Self { state: RefCell::new(reading) }))
    }
}

impl GuestDownload for Download {
    fn read(&self) -> Result<Option<Vec<u8>>, wit::ObjectError> {
        Ok(self.state.borrow_mut().read()?)
    }
}

impl Reading {
    fn read(&mut self) -> Result<Option<Vec<u8>>, ObjectError> {
        if self.next >= self.end {
            return Ok(None);
        }
        let parts = self.shards.parts();
        let part = parts.partition_point(|part| part.start + part.size <= self.next);
        let (part_start, part_size) = (parts[part].start, parts[part].size);
        let block_bytes = u64::from(self.found.version.block_bytes);
        let block = (self.next - part_start) / block_bytes;
        let block_start = part_start + block * block_bytes;
        let block_len = block_bytes.min(part_size - block * block_bytes);
        let bytes = self.shards.block_bytes(&self.set, &self.found, part, block);
        if self.shards.take_damage() {
            heal_queue::push(&self.set, &self.bucket, &self.key);
        }
        let bytes = bytes?;
        if bytes.len() as u64 != block_len {
            return Err(ObjectError::Internal(format!("block of {} bytes, {block_len} expected", bytes.len())));
        }
        let from = (self.next - block_start) as usize;
        let to = (self.end.min(block_start + block_len) - block_start) as usize;
        self.next = block_start + to as u64;
        Ok(Some(if from == 0 && to == bytes.len() { bytes } else { bytes[from..to].to_vec() }))
    }
}
