//! The erasure set: how many data and parity shards, the quorums, and which drive holds which
//! shard of an object.

use simd_kernels::shards::default_parity;

use crate::error::ObjectError;

/// Object bytes per erasure block.
pub const BLOCK_BYTES: usize = 1 << 20;
/// Objects up to this size are stored inline in their metadata: one write per drive.
pub const INLINE_MAX_BYTES: usize = 128 << 10;

/// Data and parity shard counts of an erasure set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErasureLayout {
    pub data: usize,
    pub parity: usize,
}

impl ErasureLayout {
    /// The layout for `drive_count` drives, with `parity` or MinIO's default.
    pub fn for_drives(drive_count: usize, parity: Option<usize>) -> Result<Self, ObjectError> {
        if drive_count == 0 || drive_count > 32 {
            return Err(ObjectError::Internal(format!("{drive_count} drives: an erasure set has 1 to 32")));
        }
        let parity = parity.unwrap_or_else(|| default_parity(drive_count));
        if parity > drive_count / 2 {
            return Err(ObjectError::Internal(format!("parity {parity} is more than half of {drive_count} drives")));
        }
        Ok(Self { data: drive_count - parity, parity })
    }

    pub fn drive_count(&self) -> usize {
        self.data + self.parity
    }

    /// Drives that must acknowledge a write: data, plus one when data = parity, so that two
    /// disjoint halves can never both accept conflicting writes.
    pub fn write_quorum(&self) -> usize {
        if self.data == self.parity { self.data + 1 } else { self.data }
    }

    /// Drives that must agree on an object's metadata for it to be read.
    pub fn read_quorum(&self) -> usize {
        self.data
    }
}

/// For each drive position, the shard index it holds for `key`. Shards rotate with a hash of
/// the key so that every drive gets its share of data shards (read load) and parity shards.
pub fn distribution(key: &str, drive_count: usize) -> Vec<u8> {
    let start = (fnv1a(key.as_bytes()) % drive_count as u64) as usize;
    (0..drive_count).map(|position| ((position + drive_count - start) % drive_count) as u8).collect()
}

/// FNV-1a, 64 bit: stable across builds and platforms (the placement is also stored in each
/// object's metadata, so it only decides placement of new writes).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorums_follow_the_design() {
        let four = ErasureLayout::for_drives(4, None).unwrap();
        assert_eq!((four.data, four.parity, four.write_quorum(), four.read_quorum()), (2, 2, 3, 2));
        let twelve = ErasureLayout::for_drives(12, None).unwrap();
        assert_eq!((twelve.data, twelve.parity, twelve.write_quorum()), (8, 4, 8));
        assert!(ErasureLayout::for_drives(4, Some(3)).is_err());
        assert_eq!(ErasureLayout::for_drives(1, None).unwrap().parity, 0);
    }

    #[test]
    fn distribution_is_a_permutation_that_rotates() {
        let mut starts = std::collections::BTreeSet::new();
        for key in ["a", "b", "c", "photos/1.jpg", "photos/2.jpg", "z"] {
            let dist = distribution(key, 4);
            let mut sorted = dist.clone();
            sorted.sort();
            assert_eq!(sorted, vec![0, 1, 2, 3]);
            starts.insert(dist.iter().position(|s| *s == 0).unwrap());
        }
        assert!(starts.len() > 1, "placement must vary with the key");
    }
}
