//! Reading objects: find the version a read quorum of drives agrees on, then stream its
//! blocks. Each block is rebuilt from the data shards when they are all sound (no decoding,
//! just concatenation); a shard that is missing or fails its bitrot hash is replaced by parity
//! and the missing data shards are reconstructed by the `erasure` import.

use std::cell::RefCell;

use simd_kernels::{bitrot, shards};

use crate::bindings::exports::tessera::node::objects::{self as wit, ByteRange, ContentRange, GuestDownload, ObjectInfo};
use crate::bindings::tessera::node::drive::DriveError;
use crate::bindings::tessera::node::erasure;
use crate::buckets;
use crate::error::ObjectError;
use crate::meta::{MAX_META_BYTES, ObjectMeta, ObjectVersion, VersionKind};
use crate::names::key_to_path;
use crate::set::{self, ErasureSet};

/// The version of an object that a read quorum agrees on, with each drive's copy of it.
pub struct Found {
    pub version: ObjectVersion,
    /// By drive position: that drive's metadata when it agrees with `version`.
    pub agreeing: Vec<Option<ObjectVersion>>,
    pub object_dir: String,
}

impl Found {
    pub fn info(&self, bucket: &str, key: &str) -> ObjectInfo {
        ObjectInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: self.version.size,
            etag: self.version.etag.clone(),
            modified_ms: self.version.modified_ms,
            content_type: self.version.content_type.clone(),
            user_metadata: self.version.user_metadata.clone(),
        }
    }
}

/// Reads the metadata of `key` on every drive and picks the newest version that a read quorum
/// agrees on.
pub fn find(set: &ErasureSet, bucket: &str, key: &str) -> Result<Found, ObjectError> {
    let object_dir = set::object_dir(bucket, &key_to_path(key)?);
    let meta_path = set::meta_path(&object_dir);
    let reads = set.each(|drive| drive.read_file(&meta_path, MAX_META_BYTES as u32));
    let versions: Vec<Option<ObjectVersion>> = reads
        .iter()
        .map(|read| {
            let bytes = read.as_ref().ok()?;
            ObjectMeta::decode(bytes).ok()?.versions.into_iter().next()
        })
        .collect();
    let read_quorum = set.layout.read_quorum();
    let best = versions
        .iter()
        .flatten()
        .map(|candidate| {
            let votes = versions.iter().flatten().filter(|other| other.agrees_with(candidate)).count();
            (votes, candidate)
        })
        .filter(|(votes, _)| *votes >= read_quorum)
        .max_by_key(|(votes, candidate)| (candidate.modified_ms, *votes));
    if let Some((_, version)) = best {
        if version.kind == VersionKind::DeleteMarker {
            return Err(ObjectError::NoSuchKey);
        }
        let agreeing = versions.iter().map(|v| v.as_ref().filter(|v| v.agrees_with(version)).cloned()).collect();
        return Ok(Found { version: version.clone(), agreeing, object_dir });
    }
    let missing = reads.iter().filter(|read| matches!(read, Err(DriveError::NotFound))).count();
    if missing > set.layout.drive_count() - read_quorum {
        buckets::head(set, bucket)?;
        return Err(ObjectError::NoSuchKey);
    }
    Err(ObjectError::InsufficientQuorum(format!(
        "no version of {bucket}/{key} is agreed by {read_quorum} drives"
    )))
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
    found: Found,
    /// Next byte to return, and one past the last.
    next: u64,
    end: u64,
    /// By shard index: the drive position holding it, while it has not failed.
    holder: Vec<Option<usize>>,
}

impl Download {
    pub fn open(
        set: ErasureSet,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<(ObjectInfo, Option<ContentRange>, Self), ObjectError> {
        let found = find(&set, bucket, key)?;
        let info = found.info(bucket, key);
        let content_range = range.map(|range| resolve_range(&range, found.version.size)).transpose()?;
        let (next, end) = match &content_range {
            Some(range) => (range.start, range.start + range.length),
            None => (0, found.version.size),
        };
        let shard_count = found.version.distribution.len();
        let mut holder = vec![None; shard_count];
        for (position, copy) in found.agreeing.iter().enumerate() {
            if copy.is_some() {
                holder[usize::from(found.version.distribution[position])] = Some(position);
            }
        }
        let reading = Reading { set, found, next, end, holder };
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
        let block_bytes = u64::from(self.found.version.block_bytes);
        let block_index = self.next / block_bytes;
        let block_start = block_index * block_bytes;
        let block_len = block_bytes.min(self.found.version.size - block_start) as usize;
        let block = self.read_block(block_index, block_len)?;
        let from = (self.next - block_start) as usize;
        let to = (self.end.min(block_start + block_len as u64) - block_start) as usize;
        self.next = block_start + to as u64;
        Ok(Some(if from == 0 && to == block.len() { block } else { block[from..to].to_vec() }))
    }

    /// Rebuilds one block from its shards.
    fn read_block(&mut self, block_index: u64, block_len: usize) -> Result<Vec<u8>, ObjectError> {
        let version = &self.found.version;
        let data = usize::from(version.data_count);
        let shard_count = version.distribution.len();
        let shard_bytes = shards::shard_bytes(block_len, data);
        let full_shard_bytes = shards::shard_bytes(version.block_bytes as usize, data);
        let offset = block_index * (bitrot::HASH_BYTES + full_shard_bytes) as u64;
        let mut shards: Vec<Option<Vec<u8>>> = vec![None; shard_count];
        let mut sound = 0;
        for shard_index in 0..shard_count {
            if sound == data {
                break;
            }
            match self.fetch_shard(shard_index, offset, shard_bytes) {
                Some(shard) => {
                    shards[shard_index] = Some(shard);
                    sound += 1;
                }
                None => self.holder[shard_index] = None,
            }
        }
        if sound < data {
            return Err(ObjectError::InsufficientQuorum(format!(
                "block {block_index}: {sound} sound shards, {data} needed"
            )));
        }
        if shards[..data].iter().any(Option::is_none) {
            let missing: Vec<usize> = (0..shard_count).filter(|index| shards[*index].is_none()).collect();
            let rebuilt = erasure::reconstruct(data as u32, version.parity_count as u32, shard_bytes as u32, &shards)
                .map_err(|error| ObjectError::Internal(format!("erasure reconstruct: {error:?}")))?;
            for (index, shard) in missing.into_iter().zip(rebuilt) {
                shards[index] = Some(shard);
            }
        }
        let mut block = Vec::with_capacity(block_len);
        for (index, shard) in shards.iter().take(data).enumerate() {
            let shard = shard.as_ref().ok_or_else(|| ObjectError::Internal("shard not rebuilt".into()))?;
            block.extend_from_slice(&shard[..shards::data_shard_len(block_len, index, shard_bytes)]);
        }
        Ok(block)
    }

    /// One shard of one block, or `None` when its drive fails or its bitrot hash does not match.
    fn fetch_shard(&self, shard_index: usize, offset: u64, shard_bytes: usize) -> Option<Vec<u8>> {
        let position = self.holder[shard_index]?;
        let record_len = bitrot::HASH_BYTES + shard_bytes;
        let copy = self.found.agreeing[position].as_ref()?;
        let record = if copy.data_dir.is_empty() {
            let start = usize::try_from(offset).ok()?;
            copy.inline_shard.get(start..start + record_len)?.to_vec()
        } else {
            let path = set::shard_path(&self.found.object_dir, &copy.data_dir);
            self.set.drives[position].read_range(&path, offset, record_len as u32).ok()?
        };
        if record.len() != record_len {
            return None;
        }
        let (hash, shard) = record.split_at(bitrot::HASH_BYTES);
        let hash: &[u8; bitrot::HASH_BYTES] = hash.try_into().ok()?;
        bitrot::verify(shard, hash).then(|| shard.to_vec())
    }
}
