//! Reading a version's shards: each drive's shard file opened once (so a commit that replaces
//! the object meanwhile cannot pull it away), or its inline shard; every shard block checked
//! against its bitrot hash; what is missing rebuilt from parity. Downloads and healing share it.

use simd_kernels::{bitrot, shards};

use crate::bindings::tessera::node::drive::{DriveError, Reader};
use crate::bindings::tessera::node::erasure;
use crate::error::ObjectError;
use crate::get::Found;
use crate::meta::ObjectVersion;
use crate::set::{self, ErasureSet};

/// Where one shard is read from.
enum Source {
    File(Reader),
    Inline(Vec<u8>),
}

/// The shards of one version, by shard index.
pub struct ShardSet {
    version: ObjectVersion,
    /// By shard index: where it is read, while it has not failed.
    sources: Vec<Option<Source>>,
    /// By shard index: the drive position holding it.
    positions: Vec<Option<usize>>,
    /// A shard failed (missing file, bad hash, drive error) since the last `take_damage`.
    damaged: bool,
}

/// What opening the shard files found.
pub struct Opened {
    pub shards: ShardSet,
    /// Drives whose shard file was not there: a writer may have replaced the version since
    /// its metadata was read.
    pub vanished: usize,
}

impl ShardSet {
    /// Opens the shards of `found` held by the drive positions `use_position` accepts.
    pub fn open(set: &ErasureSet, found: &Found, use_position: impl Fn(usize) -> bool) -> Opened {
        let version = found.version.clone();
        let shard_count = version.distribution.len();
        let mut sources: Vec<Option<Source>> = (0..shard_count).map(|_| None).collect();
        let mut positions = vec![None; shard_count];
        let mut vanished = 0;
        let mut damaged = false;
        for (position, copy) in found.agreeing.iter().enumerate() {
            let Some(copy) = copy else { continue };
            if !use_position(position) {
                continue;
            }
            let shard_index = usize::from(version.distribution[position]);
            let source = if copy.data_dir.is_empty() {
                Some(Source::Inline(copy.inline_shard.clone()))
            } else {
                match set.drives[position].open_file(&set::shard_path(&found.object_dir, &copy.data_dir)) {
                    Ok(reader) => Some(Source::File(reader)),
                    Err(error) => {
                        vanished += usize::from(matches!(error, DriveError::NotFound));
                        damaged = true;
                        None
                    }
                }
            };
            sources[shard_index] = source;
            positions[shard_index] = Some(position);
        }
        Opened { shards: Self { version, sources, positions, damaged }, vanished }
    }

    /// Shards that can still be read.
    pub fn available(&self) -> usize {
        self.sources.iter().flatten().count()
    }

    /// Whether a shard failed since the last call (a damaged object to queue for healing).
    pub fn take_damage(&mut self) -> bool {
        std::mem::take(&mut self.damaged)
    }

    /// Drive positions whose shard was opened but has failed since (missing, corrupt).
    pub fn failed_positions(&self) -> Vec<usize> {
        (0..self.sources.len()).filter(|index| self.sources[*index].is_none()).filter_map(|index| self.positions[index]).collect()
    }

    /// The shards of one block, by shard index: `need` sound ones read (data shards first, so
    /// that an undamaged read needs no decoding), the rest `None`.
    pub fn read_block(&mut self, block_index: u64, need: usize) -> Result<Vec<Option<Vec<u8>>>, ObjectError> {
        let layout = BlockLayout::of(&self.version, block_index);
        let offset = block_index * layout.full_record_bytes as u64;
        let mut shards: Vec<Option<Vec<u8>>> = vec![None; self.sources.len()];
        let mut sound = 0;
        for shard_index in 0..self.sources.len() {
            if sound == need {
                break;
            }
            let Some(source) = &self.sources[shard_index] else {
                continue;
            };
            match fetch(source, offset, layout.shard_bytes) {
                Some(shard) => {
                    shards[shard_index] = Some(shard);
                    sound += 1;
                }
                None => {
                    self.sources[shard_index] = None;
                    self.damaged = true;
                }
            }
        }
        if sound < need.min(usize::from(self.version.data_count)) {
            return Err(ObjectError::InsufficientQuorum(format!(
                "block {block_index}: {sound} sound shards, {} needed",
                self.version.data_count
            )));
        }
        Ok(shards)
    }

    /// Fills in every missing shard of a block from the ones present (at least the data count).
    pub fn complete(&self, block_index: u64, shards: &mut [Option<Vec<u8>>]) -> Result<(), ObjectError> {
        complete(&self.version, BlockLayout::of(&self.version, block_index).shard_bytes, shards)
    }

    /// The bytes of one block: read, with the data shards rebuilt when any is missing.
    pub fn block_bytes(&mut self, block_index: u64) -> Result<Vec<u8>, ObjectError> {
        let data = usize::from(self.version.data_count);
        let mut shards = self.read_block(block_index, data)?;
        let layout = BlockLayout::of(&self.version, block_index);
        if shards[..data].iter().any(Option::is_none) {
            complete(&self.version, layout.shard_bytes, &mut shards)?;
        }
        let mut block = Vec::with_capacity(layout.block_len);
        for (index, shard) in shards.iter().take(data).enumerate() {
            let shard = shard.as_ref().ok_or_else(|| ObjectError::Internal("shard not rebuilt".into()))?;
            block.extend_from_slice(&shard[..shards::data_shard_len(layout.block_len, index, layout.shard_bytes)]);
        }
        Ok(block)
    }
}

/// Sizes of one block of a version.
pub struct BlockLayout {
    /// Object bytes in the block.
    pub block_len: usize,
    pub shard_bytes: usize,
    /// Bytes of a full block's record (hash + shard): where block n starts is n times this.
    pub full_record_bytes: usize,
}

impl BlockLayout {
    pub fn of(version: &ObjectVersion, block_index: u64) -> Self {
        let block_bytes = u64::from(version.block_bytes);
        let data = usize::from(version.data_count);
        let block_len = block_bytes.min(version.size.saturating_sub(block_index * block_bytes)) as usize;
        Self {
            block_len,
            shard_bytes: shards::shard_bytes(block_len, data),
            full_record_bytes: bitrot::HASH_BYTES + shards::shard_bytes(version.block_bytes as usize, data),
        }
    }
}

/// Erasure blocks of a version.
pub fn block_count(version: &ObjectVersion) -> u64 {
    version.size.div_ceil(u64::from(version.block_bytes.max(1)))
}

/// The exact size of each drive's shard data (file or inline) for a version.
pub fn shard_data_bytes(version: &ObjectVersion) -> u64 {
    (0..block_count(version)).map(|block| (bitrot::HASH_BYTES + BlockLayout::of(version, block).shard_bytes) as u64).sum()
}

/// One shard record as stored: its bitrot hash, then the shard.
pub fn record(shard: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(bitrot::HASH_BYTES + shard.len());
    record.extend_from_slice(&bitrot::hash(shard));
    record.extend_from_slice(shard);
    record
}

fn complete(version: &ObjectVersion, shard_bytes: usize, shards: &mut [Option<Vec<u8>>]) -> Result<(), ObjectError> {
    let missing: Vec<usize> = (0..shards.len()).filter(|index| shards[*index].is_none()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let rebuilt = erasure::reconstruct(u32::from(version.data_count), u32::from(version.parity_count), shard_bytes as u32, shards)
        .map_err(|error| ObjectError::Internal(format!("erasure reconstruct: {error:?}")))?;
    for (index, shard) in missing.into_iter().zip(rebuilt) {
        shards[index] = Some(shard);
    }
    Ok(())
}

/// One shard of one block, or `None` when it cannot be read or fails its bitrot hash.
fn fetch(source: &Source, offset: u64, shard_bytes: usize) -> Option<Vec<u8>> {
    let record_len = bitrot::HASH_BYTES + shard_bytes;
    let record = match source {
        Source::Inline(bytes) => {
            let start = usize::try_from(offset).ok()?;
            bytes.get(start..start.checked_add(record_len)?)?.to_vec()
        }
        Source::File(reader) => reader.read_at(offset, record_len as u32).ok()?,
    };
    if record.len() != record_len {
        return None;
    }
    let (hash, shard) = record.split_at(bitrot::HASH_BYTES);
    let hash: &[u8; bitrot::HASH_BYTES] = hash.try_into().ok()?;
    bitrot::verify(shard, hash).then(|| shard.to_vec())
}
