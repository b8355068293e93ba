//! Reading a version's shards: each drive's shard files opened (so a commit that replaces the
//! object meanwhile cannot pull them away), or its inline shard; every shard block checked
//! against its bitrot hash; what is missing rebuilt from parity. Downloads and healing share it.
//!
//! A version is one or more parts (`meta::PartFile`), each a shard file per drive cut in
//! blocks. The files of the first `EAGER_PARTS` parts are opened at once; later parts are opened
//! when reading reaches them, so a download of a huge multipart object does not hold thousands
//! of files open (and a commit that replaces it mid-download can end it early there).

use simd_kernels::{bitrot, shards};

use crate::bindings::tessera::node::drive::{DriveError, Reader};
use crate::bindings::tessera::node::erasure;
use crate::error::ObjectError;
use crate::get::Found;
use crate::meta::{ObjectVersion, PartFile};
use crate::set::{self, ErasureSet};

/// Parts whose files are opened when the download starts.
const EAGER_PARTS: usize = 64;

/// Where one shard is read from.
enum Source {
    File(Reader),
    Inline(Vec<u8>),
}

/// The shards of one version, by part and shard index.
pub struct ShardSet {
    version: ObjectVersion,
    parts: Vec<PartFile>,
    object_dir: String,
    /// By shard index: the drive position holding it, when that drive agrees and may be used.
    positions: Vec<Option<usize>>,
    /// By part, then shard index: where it is read, once opened and while it has not failed.
    sources: Vec<Option<Vec<Option<Source>>>>,
    /// Drive positions whose shard failed in some part (missing, corrupt, drive error).
    failed: Vec<usize>,
    /// A shard failed since the last `take_damage`.
    damaged: bool,
    /// Shard files not there when opened: a writer may have replaced the version.
    vanished: usize,
}

impl ShardSet {
    /// The shards of `found` held by the drive positions `use_position` accepts; the first
    /// parts' files are opened now.
    pub fn open(set: &ErasureSet, found: &Found, use_position: impl Fn(usize) -> bool) -> Self {
        let version = found.version.clone();
        let parts = version.part_files();
        let mut positions = vec![None; version.distribution.len()];
        for (position, copy) in found.agreeing.iter().enumerate() {
            if copy.is_some() && use_position(position) {
                positions[usize::from(version.distribution[position])] = Some(position);
            }
        }
        let mut shards = Self {
            sources: (0..parts.len()).map(|_| None).collect(),
            version,
            parts,
            object_dir: found.object_dir.clone(),
            positions,
            failed: Vec::new(),
            damaged: false,
            vanished: 0,
        };
        for part in 0..shards.parts.len().min(EAGER_PARTS) {
            shards.open_part(set, found, part);
        }
        shards
    }

    fn open_part(&mut self, set: &ErasureSet, found: &Found, part: usize) {
        let mut sources: Vec<Option<Source>> = (0..self.positions.len()).map(|_| None).collect();
        for (shard_index, position) in self.positions.clone().into_iter().enumerate() {
            let Some(position) = position else { continue };
            let Some(copy) = &found.agreeing[position] else { continue };
            sources[shard_index] = if copy.data_dir.is_empty() {
                Some(Source::Inline(copy.inline_shard.clone()))
            } else {
                let path = format!("{}/{}", set::data_dir_path(&self.object_dir, &copy.data_dir), self.parts[part].name);
                match set.drives[position].open_file(&path) {
                    Ok(reader) => Some(Source::File(reader)),
                    Err(error) => {
                        self.vanished += usize::from(matches!(error, DriveError::NotFound));
                        self.fail(position);
                        None
                    }
                }
            };
        }
        self.sources[part] = Some(sources);
    }

    fn fail(&mut self, position: usize) {
        self.damaged = true;
        if !self.failed.contains(&position) {
            self.failed.push(position);
        }
    }

    pub fn parts(&self) -> &[PartFile] {
        &self.parts
    }

    /// Shards of the first part that can still be read.
    pub fn available(&self) -> usize {
        self.sources.first().and_then(Option::as_ref).map_or(0, |sources| sources.iter().flatten().count())
    }

    /// Shard files missing when opened.
    pub fn vanished(&self) -> usize {
        self.vanished
    }

    /// Whether a shard failed since the last call (a damaged object to queue for healing).
    pub fn take_damage(&mut self) -> bool {
        std::mem::take(&mut self.damaged)
    }

    /// Drive positions whose shard failed in any part read so far.
    pub fn failed_positions(&self) -> &[usize] {
        &self.failed
    }

    /// The shards of one block of one part, by shard index: `need` sound ones read (data
    /// shards first, so that an undamaged read needs no decoding), the rest `None`.
    pub fn read_block(
        &mut self,
        set: &ErasureSet,
        found: &Found,
        part: usize,
        block: u64,
        need: usize,
    ) -> Result<Vec<Option<Vec<u8>>>, ObjectError> {
        if self.sources[part].is_none() {
            self.open_part(set, found, part);
        }
        let layout = BlockLayout::of(&self.version, self.parts[part].size, block);
        let offset = block * layout.full_record_bytes as u64;
        let shard_count = self.positions.len();
        let mut shards: Vec<Option<Vec<u8>>> = vec![None; shard_count];
        let mut sound = 0;
        let mut failed = Vec::new();
        let sources = self.sources[part].as_mut().expect("opened above");
        for shard_index in 0..shard_count {
            if sound == need {
                break;
            }
            let Some(source) = &sources[shard_index] else { continue };
            match fetch(source, offset, layout.shard_bytes) {
                Some(shard) => {
                    shards[shard_index] = Some(shard);
                    sound += 1;
                }
                None => {
                    sources[shard_index] = None;
                    failed.extend(self.positions[shard_index]);
                }
            }
        }
        for position in failed {
            self.fail(position);
        }
        let data = usize::from(self.version.data_count);
        if sound < need.min(data) {
            return Err(ObjectError::InsufficientQuorum(format!("part {}, block {block}: {sound} sound shards, {data} needed", part + 1)));
        }
        Ok(shards)
    }

    /// Fills in every missing shard of a block from the ones present (at least the data count).
    pub fn complete(&self, part: usize, block: u64, shards: &mut [Option<Vec<u8>>]) -> Result<(), ObjectError> {
        complete(&self.version, BlockLayout::of(&self.version, self.parts[part].size, block).shard_bytes, shards)
    }

    /// The bytes of one block: read, with the data shards rebuilt when any is missing.
    pub fn block_bytes(&mut self, set: &ErasureSet, found: &Found, part: usize, block: u64) -> Result<Vec<u8>, ObjectError> {
        let data = usize::from(self.version.data_count);
        let mut shards = self.read_block(set, found, part, block, data)?;
        let layout = BlockLayout::of(&self.version, self.parts[part].size, block);
        if shards[..data].iter().any(Option::is_none) {
            complete(&self.version, layout.shard_bytes, &mut shards)?;
        }
        let mut bytes = Vec::with_capacity(layout.block_len);
        for (index, shard) in shards.iter().take(data).enumerate() {
            let shard = shard.as_ref().ok_or_else(|| ObjectError::Internal("shard not rebuilt".into()))?;
            bytes.extend_from_slice(&shard[..shards::data_shard_len(layout.block_len, index, layout.shard_bytes)]);
        }
        Ok(bytes)
    }
}

/// Sizes of one block of a part.
pub struct BlockLayout {
    /// Object bytes in the block.
    pub block_len: usize,
    pub shard_bytes: usize,
    /// Bytes of a full block's record (hash + shard): where block n starts is n times this.
    pub full_record_bytes: usize,
}

impl BlockLayout {
    pub fn of(version: &ObjectVersion, part_size: u64, block: u64) -> Self {
        let block_bytes = u64::from(version.block_bytes);
        let data = usize::from(version.data_count);
        let block_len = block_bytes.min(part_size.saturating_sub(block * block_bytes)) as usize;
        Self {
            block_len,
            shard_bytes: shards::shard_bytes(block_len, data),
            full_record_bytes: bitrot::HASH_BYTES + shards::shard_bytes(version.block_bytes as usize, data),
        }
    }
}

/// Erasure blocks of a part.
pub fn block_count(version: &ObjectVersion, part_size: u64) -> u64 {
    part_size.div_ceil(u64::from(version.block_bytes.max(1)))
}

/// The exact size of each drive's shard data (file, or inline) for a part.
pub fn shard_data_bytes(version: &ObjectVersion, part_size: u64) -> u64 {
    (0..block_count(version, part_size))
        .map(|block| (bitrot::HASH_BYTES + BlockLayout::of(version, part_size, block).shard_bytes) as u64)
        .sum()
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
