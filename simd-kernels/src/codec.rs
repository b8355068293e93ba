//! The `tessera:node/erasure` contract over any `reed-solomon-simd` engine, so that the native
//! host (run-time SIMD choice) and the `erasure-simd128` component (Wasm SIMD128 or scalar) share
//! one implementation of the checks, the shard cutting and the rebuild, and agree bit for bit.

use std::cell::RefCell;

use reed_solomon_simd::engine::Engine;
use reed_solomon_simd::rate::{DecoderWork, DefaultRateDecoder, DefaultRateEncoder, EncoderWork, RateDecoder, RateEncoder};

use crate::shards;

thread_local! {
    // Work buffers of the last encode and decode on this thread, reused by the next call: a
    // 1 MiB block needs several MiB of them, and allocating and zeroing those on every call
    // costs as much as the coding itself (in Wasm far more, where memory only grows).
    static ENCODER_WORK: RefCell<Option<EncoderWork>> = const { RefCell::new(None) };
    static DECODER_WORK: RefCell<Option<DecoderWork>> = const { RefCell::new(None) };
}

/// Most data or parity shards per block that the contract allows.
pub const MAX_SHARDS: u32 = 128;

/// Why an erasure call failed: always a caller bug or corrupt input, never I/O. Mirrors
/// `erasure-error` in `wit/erasure.wit`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Data count outside 1..=128 or parity count above 128.
    #[error("invalid erasure layout: {0}")]
    InvalidLayout(String),
    /// Shards of unequal or odd length, a wrong shard count, or an empty block.
    #[error("invalid shards: {0}")]
    InvalidShards(String),
    /// Fewer than `data_count` shards present: nothing can be rebuilt.
    #[error("fewer shards present than data shards: nothing can be rebuilt")]
    TooFewShards,
}

impl From<reed_solomon_simd::Error> for CodecError {
    fn from(error: reed_solomon_simd::Error) -> Self {
        CodecError::InvalidShards(error.to_string())
    }
}

fn check_layout(data_count: u32, parity_count: u32) -> Result<(), CodecError> {
    if data_count == 0 || data_count > MAX_SHARDS || parity_count > MAX_SHARDS {
        return Err(CodecError::InvalidLayout(format!("{data_count}+{parity_count}: data 1..=128, parity 0..=128")));
    }
    Ok(())
}

/// The `parity_count` parity shards of `block`, cut into data shards as `crate::shards` says.
pub fn encode_parity<E: Engine>(engine: E, data_count: u32, parity_count: u32, block: &[u8]) -> Result<Vec<Vec<u8>>, CodecError> {
    check_layout(data_count, parity_count)?;
    if block.is_empty() {
        return Err(CodecError::InvalidShards("empty block".into()));
    }
    let (data, parity) = (data_count as usize, parity_count as usize);
    if parity == 0 {
        return Ok(Vec::new());
    }
    let shard_bytes = shards::shard_bytes(block.len(), data);
    let work = ENCODER_WORK.with_borrow_mut(Option::take);
    let mut encoder = DefaultRateEncoder::new(data, parity, shard_bytes, engine, work)?;
    for index in 0..data {
        // Only shards that run past the end of the block need a zero-padded copy.
        match block.get(index * shard_bytes..(index + 1) * shard_bytes) {
            Some(whole) => encoder.add_original_shard(whole)?,
            None => encoder.add_original_shard(shards::data_shard(block, index, shard_bytes))?,
        }
    }
    let parity_shards = encoder.encode()?.recovery_iter().map(<[u8]>::to_vec).collect();
    ENCODER_WORK.with_borrow_mut(|slot| *slot = Some(encoder.into_parts().1));
    Ok(parity_shards)
}

/// The missing shards of one block, data and parity alike, in shard order. `shards` holds
/// `data_count + parity_count` entries, data first, `None` where a shard is missing.
pub fn reconstruct<E: Engine>(
    engine: E,
    data_count: u32,
    parity_count: u32,
    shard_bytes: u32,
    mut shards: Vec<Option<Vec<u8>>>,
) -> Result<Vec<Vec<u8>>, CodecError> {
    check_layout(data_count, parity_count)?;
    let (data, parity, shard_bytes) = (data_count as usize, parity_count as usize, shard_bytes as usize);
    if shards.len() != data + parity {
        return Err(CodecError::InvalidShards(format!("{} shards given, {} expected", shards.len(), data + parity)));
    }
    if shard_bytes == 0 || shard_bytes % 2 != 0 || shards.iter().flatten().any(|shard| shard.len() != shard_bytes) {
        return Err(CodecError::InvalidShards(format!("every shard must be {shard_bytes} bytes, even and non-zero")));
    }
    let missing: Vec<usize> = (0..shards.len()).filter(|index| shards[*index].is_none()).collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    if shards.len() - missing.len() < data {
        return Err(CodecError::TooFewShards);
    }

    // Data shards come back from the decoder; parity shards are then encoded afresh from the
    // complete data, which is what the writer did.
    let engine = if missing.iter().any(|index| *index < data) {
        restore_data_shards(engine, data, parity, shard_bytes, &mut shards)?
    } else {
        engine
    };
    if missing.iter().any(|index| *index >= data) {
        restore_parity_shards(engine, data, parity, shard_bytes, &mut shards)?;
    }
    missing
        .into_iter()
        .map(|index| shards[index].take().ok_or_else(|| CodecError::InvalidShards(format!("shard {index} not restored"))))
        .collect()
}

/// Fills the missing data shards of `shards` and hands the engine back for the parity pass.
fn restore_data_shards<E: Engine>(
    engine: E,
    data: usize,
    parity: usize,
    shard_bytes: usize,
    shards: &mut [Option<Vec<u8>>],
) -> Result<E, CodecError> {
    let work = DECODER_WORK.with_borrow_mut(Option::take);
    let mut decoder = DefaultRateDecoder::new(data, parity, shard_bytes, engine, work)?;
    for (index, shard) in shards.iter().enumerate() {
        match shard {
            Some(shard) if index < data => decoder.add_original_shard(index, shard)?,
            Some(shard) => decoder.add_recovery_shard(index - data, shard)?,
            None => {}
        }
    }
    for (index, shard) in decoder.decode()?.restored_original_iter() {
        shards[index] = Some(shard.to_vec());
    }
    let (engine, work) = decoder.into_parts();
    DECODER_WORK.with_borrow_mut(|slot| *slot = Some(work));
    Ok(engine)
}

/// Fills the missing parity shards of `shards`, whose data shards are all present by now.
fn restore_parity_shards<E: Engine>(
    engine: E,
    data: usize,
    parity: usize,
    shard_bytes: usize,
    shards: &mut [Option<Vec<u8>>],
) -> Result<(), CodecError> {
    let work = ENCODER_WORK.with_borrow_mut(Option::take);
    let mut encoder = DefaultRateEncoder::new(data, parity, shard_bytes, engine, work)?;
    for shard in &shards[..data] {
        // A data shard still missing here is empty: the encoder rejects its length.
        encoder.add_original_shard(shard.as_deref().unwrap_or_default())?;
    }
    for (slot, parity_shard) in shards[data..].iter_mut().zip(encoder.encode()?.recovery_iter()) {
        slot.get_or_insert_with(|| parity_shard.to_vec());
    }
    ENCODER_WORK.with_borrow_mut(|slot| *slot = Some(encoder.into_parts().1));
    Ok(())
}

#[cfg(test)]
mod tests {
    use reed_solomon_simd::engine::{DefaultEngine, NoSimd};

    use super::*;

    /// Deterministic pseudo-random numbers (xorshift64), so that a failure replays exactly.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }

        /// A set of `count` distinct shard indices below `total`, as a bit mask.
        fn loss(&mut self, total: usize, count: usize) -> u64 {
            let mut mask = 0u64;
            while (mask.count_ones() as usize) < count {
                mask |= 1 << self.below(total);
            }
            mask
        }
    }

    /// Block sizes around the edges of shard cutting and of the engines' 64-byte chunks.
    const BLOCK_SIZES: [usize; 9] = [1, 2, 3, 31, 64, 65, 127, 1000, 4099];

    /// Every shard of `block` in shard order, data first, as a writer stores them.
    fn stored_shards(data: u32, parity: u32, block: &[u8]) -> Vec<Vec<u8>> {
        let shard_bytes = shards::shard_bytes(block.len(), data as usize);
        let mut stored: Vec<Vec<u8>> = (0..data as usize).map(|index| shards::data_shard(block, index, shard_bytes)).collect();
        stored.extend(encode_parity(NoSimd::new(), data, parity, block).unwrap());
        stored
    }

    /// Drops the shards in `lost` (a bit mask), rebuilds them and checks them against `stored`.
    fn check_rebuild<E: Engine>(engine: E, data: u32, parity: u32, stored: &[Vec<u8>], lost: u64) {
        let given = stored.iter().enumerate().map(|(index, shard)| (lost & (1 << index) == 0).then(|| shard.clone()));
        let rebuilt = reconstruct(engine, data, parity, stored[0].len() as u32, given.collect()).unwrap();
        let expected: Vec<&Vec<u8>> = (0..stored.len()).filter(|index| lost & (1 << index) != 0).map(|index| &stored[index]).collect();
        assert_eq!(rebuilt.iter().collect::<Vec<_>>(), expected, "{data}+{parity}, lost {lost:#b}");
    }

    #[test]
    fn engines_agree_on_parity() {
        let mut random = Random(0x7e55e7a);
        for data in 1..=16 {
            for parity in 1..=16 {
                for len in BLOCK_SIZES.into_iter().chain([1 + random.below(3000)]) {
                    let block = random.bytes(len);
                    let portable = encode_parity(NoSimd::new(), data, parity, &block).unwrap();
                    let native = encode_parity(DefaultEngine::new(), data, parity, &block).unwrap();
                    assert_eq!(portable.len(), parity as usize);
                    assert!(portable.iter().all(|shard| shard.len() == shards::shard_bytes(len, data as usize)));
                    assert_eq!(portable, native, "{data}+{parity}, {len} bytes");
                }
            }
        }
    }

    // Each decode evaluates a polynomial over all of GF(2^16): the loops below are sized so that
    // an unoptimized `cargo test` stays within seconds.

    #[test]
    fn every_loss_up_to_parity_is_rebuilt_in_small_layouts() {
        let mut random = Random(0xb10c);
        for data in 1..=4u32 {
            for parity in 1..=4u32 {
                let total = (data + parity) as usize;
                let len = [1, 5, 130][random.below(3)];
                let stored = stored_shards(data, parity, &random.bytes(len));
                let losses = (1..1u64 << total).filter(|lost| lost.count_ones() <= parity);
                for lost in losses {
                    check_rebuild(NoSimd::new(), data, parity, &stored, lost);
                }
            }
        }
    }

    #[test]
    fn random_losses_up_to_parity_are_rebuilt_in_every_layout() {
        let mut random = Random(0x5eed);
        for data in 1..=16u32 {
            for parity in 1..=16u32 {
                let len = BLOCK_SIZES[random.below(BLOCK_SIZES.len())];
                let stored = stored_shards(data, parity, &random.bytes(len));
                // One shard, all parity's worth, and a count in between.
                for lost_count in [1, 1 + random.below(parity as usize), parity as usize] {
                    let lost = random.loss(stored.len(), lost_count);
                    check_rebuild(NoSimd::new(), data, parity, &stored, lost);
                    check_rebuild(DefaultEngine::new(), data, parity, &stored, lost);
                }
            }
        }
    }

    #[test]
    fn no_parity_and_no_loss_give_nothing() {
        assert_eq!(encode_parity(NoSimd::new(), 3, 0, b"abc"), Ok(Vec::new()));
        let stored = stored_shards(2, 2, b"hello");
        let all_present = stored.iter().cloned().map(Some).collect();
        assert_eq!(reconstruct(NoSimd::new(), 2, 2, stored[0].len() as u32, all_present), Ok(Vec::new()));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let invalid_layout = |result| matches!(result, Err(CodecError::InvalidLayout(_)));
        let invalid_shards = |result| matches!(result, Err(CodecError::InvalidShards(_)));
        assert!(invalid_layout(encode_parity(NoSimd::new(), 0, 2, b"abc")));
        assert!(invalid_layout(encode_parity(NoSimd::new(), 129, 2, b"abc")));
        assert!(invalid_layout(encode_parity(NoSimd::new(), 2, 129, b"abc")));
        assert!(invalid_shards(encode_parity(NoSimd::new(), 2, 2, b"")));
        assert!(invalid_shards(reconstruct(NoSimd::new(), 2, 2, 3, vec![Some(vec![0; 3]); 4])));
        assert!(invalid_shards(reconstruct(NoSimd::new(), 2, 2, 4, vec![Some(vec![0; 4]); 3])));
        assert!(invalid_shards(reconstruct(NoSimd::new(), 2, 2, 4, vec![Some(vec![0; 4]), Some(vec![0; 6]), None, None])));
        assert_eq!(reconstruct(NoSimd::new(), 2, 2, 4, vec![None, None, None, Some(vec![0; 4])]), Err(CodecError::TooFewShards));
    }
}
