//! How an erasure block is cut into data shards. Every engine and every reader must agree on
//! this, so it lives in exactly one place (the rule is also written in `wit/erasure.wit`).

/// Parity shards per object for a set of `drive_count` drives when none is configured, as
/// MinIO chooses: 0 for 1 drive, 1 for 2–3, 2 up to 5, 3 for 6–7, 4 from 8. The host shows it at
/// startup and the object layer applies it, so both read it from here.
pub fn default_parity(drive_count: usize) -> usize {
    match drive_count {
        0 | 1 => 0,
        2 | 3 => 1,
        4 | 5 => 2,
        6 | 7 => 3,
        _ => 4,
    }
}

/// Bytes per shard for a block of `block_bytes` cut into `data_count` shards: the ceiling of
/// the division, rounded up to even (Leopard works on 16-bit symbols), at least 2.
pub fn shard_bytes(block_bytes: usize, data_count: usize) -> usize {
    assert!(data_count > 0, "an erasure layout has at least one data shard");
    let per_shard = block_bytes.div_ceil(data_count).max(1);
    per_shard + (per_shard & 1)
}

/// The `index`-th data shard of `block`, zero-padded to `shard_bytes`.
pub fn data_shard(block: &[u8], index: usize, shard_bytes: usize) -> Vec<u8> {
    let mut shard = vec![0u8; shard_bytes];
    let start = (index * shard_bytes).min(block.len());
    let end = ((index + 1) * shard_bytes).min(block.len());
    shard[..end - start].copy_from_slice(&block[start..end]);
    shard
}

/// The unpadded bytes of the `index`-th data shard within a block of `block_bytes`.
pub fn data_shard_len(block_bytes: usize, index: usize, shard_bytes: usize) -> usize {
    let start = (index * shard_bytes).min(block_bytes);
    let end = ((index + 1) * shard_bytes).min(block_bytes);
    end - start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_bytes_is_even_and_covers_the_block() {
        for data_count in 1..=16 {
            for block_bytes in [0, 1, 2, 3, 7, 64, 1000, 1 << 20, (1 << 20) + 1] {
                let bytes = shard_bytes(block_bytes, data_count);
                assert_eq!(bytes % 2, 0);
                assert!(bytes * data_count >= block_bytes);
                assert!(bytes >= 2);
            }
        }
    }

    #[test]
    fn data_shards_reassemble_the_block() {
        let block: Vec<u8> = (0..1001u32).map(|i| (i * 7) as u8).collect();
        for data_count in 1..=7 {
            let bytes = shard_bytes(block.len(), data_count);
            let mut joined = Vec::new();
            for index in 0..data_count {
                let shard = data_shard(&block, index, bytes);
                assert_eq!(shard.len(), bytes);
                joined.extend_from_slice(&shard[..data_shard_len(block.len(), index, bytes)]);
            }
            assert_eq!(joined, block);
        }
    }
}
