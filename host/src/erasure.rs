//! The `erasure` import: Reed-Solomon over `reed-solomon-simd`, whose engine (AVX2, SSSE3,
//! Neon or portable) is chosen at run time. Encoders and decoders are kept per thread and
//! reset between calls, so a block costs no allocation of work buffers.

use std::cell::RefCell;

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};
use simd_kernels::shards;
use wasmtime::component::HasSelf;

use crate::bindings::erasure::{self, ErasureError};
use crate::runtime::State;

/// Most data or parity shards per block that the contract allows.
const MAX_SHARDS: u32 = 128;

/// The engine reed-solomon-simd picks on this machine.
pub fn engine_name() -> &'static str {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            return "reed-solomon-simd/avx2";
        }
        if std::arch::is_x86_feature_detected!("ssse3") {
            return "reed-solomon-simd/ssse3";
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            return "reed-solomon-simd/neon";
        }
    }
    "reed-solomon-simd/portable"
}

thread_local! {
    static ENCODER: RefCell<Option<ReedSolomonEncoder>> = const { RefCell::new(None) };
    static DECODER: RefCell<Option<ReedSolomonDecoder>> = const { RefCell::new(None) };
}

fn check_layout(data_count: u32, parity_count: u32) -> Result<(), ErasureError> {
    if data_count == 0 || data_count > MAX_SHARDS || parity_count > MAX_SHARDS {
        return Err(ErasureError::InvalidLayout(format!("{data_count}+{parity_count}: data 1..=128, parity 0..=128")));
    }
    Ok(())
}

fn codec_error(error: reed_solomon_simd::Error) -> ErasureError {
    ErasureError::InvalidShards(error.to_string())
}

/// Parity shards of `block`, cut into data shards as `simd_kernels::shards` says.
pub fn encode(data_count: u32, parity_count: u32, block: &[u8]) -> Result<Vec<Vec<u8>>, ErasureError> {
    check_layout(data_count, parity_count)?;
    if block.is_empty() {
        return Err(ErasureError::InvalidShards("empty block".into()));
    }
    let (data, parity) = (data_count as usize, parity_count as usize);
    if parity == 0 {
        return Ok(Vec::new());
    }
    let shard_bytes = shards::shard_bytes(block.len(), data);
    let data_shards: Vec<std::borrow::Cow<[u8]>> = (0..data)
        .map(|index| match block.get(index * shard_bytes..(index + 1) * shard_bytes) {
            Some(whole) => std::borrow::Cow::Borrowed(whole),
            None => std::borrow::Cow::Owned(shards::data_shard(block, index, shard_bytes)),
        })
        .collect();
    encode_shards(data, parity, shard_bytes, &data_shards)
}

fn encode_shards<S: AsRef<[u8]>>(data: usize, parity: usize, shard_bytes: usize, data_shards: &[S]) -> Result<Vec<Vec<u8>>, ErasureError> {
    ENCODER.with_borrow_mut(|cached| {
        let encoder = match cached {
            Some(encoder) => {
                encoder.reset(data, parity, shard_bytes).map_err(codec_error)?;
                encoder
            }
            None => cached.insert(ReedSolomonEncoder::new(data, parity, shard_bytes).map_err(codec_error)?),
        };
        for shard in data_shards {
            encoder.add_original_shard(shard).map_err(codec_error)?;
        }
        let result = encoder.encode().map_err(codec_error)?;
        Ok(result.recovery_iter().map(<[u8]>::to_vec).collect())
    })
}

/// The missing shards of one block, in shard order.
pub fn reconstruct(
    data_count: u32,
    parity_count: u32,
    shard_bytes: u32,
    mut shards: Vec<Option<Vec<u8>>>,
) -> Result<Vec<Vec<u8>>, ErasureError> {
    check_layout(data_count, parity_count)?;
    let (data, parity, shard_bytes) = (data_count as usize, parity_count as usize, shard_bytes as usize);
    if shards.len() != data + parity {
        return Err(ErasureError::InvalidShards(format!("{} shards given, {} expected", shards.len(), data + parity)));
    }
    if shards.iter().flatten().any(|shard| shard.len() != shard_bytes) || shard_bytes == 0 || shard_bytes % 2 != 0 {
        return Err(ErasureError::InvalidShards(format!("every shard must be {shard_bytes} bytes, even and non-zero")));
    }
    let missing: Vec<usize> = (0..shards.len()).filter(|index| shards[*index].is_none()).collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    if shards.len() - missing.len() < data {
        return Err(ErasureError::TooFewShards);
    }
    if missing.iter().any(|index| *index < data) {
        let restored = DECODER.with_borrow_mut(|cached| {
            let decoder = match cached {
                Some(decoder) => {
                    decoder.reset(data, parity, shard_bytes).map_err(codec_error)?;
                    decoder
                }
                None => cached.insert(ReedSolomonDecoder::new(data, parity, shard_bytes).map_err(codec_error)?),
            };
            for (index, shard) in shards.iter().enumerate() {
                if let Some(shard) = shard {
                    if index < data {
                        decoder.add_original_shard(index, shard).map_err(codec_error)?;
                    } else {
                        decoder.add_recovery_shard(index - data, shard).map_err(codec_error)?;
                    }
                }
            }
            let result = decoder.decode().map_err(codec_error)?;
            Ok::<_, ErasureError>(result.restored_original_iter().map(|(index, shard)| (index, shard.to_vec())).collect::<Vec<_>>())
        })?;
        for (index, shard) in restored {
            shards[index] = Some(shard);
        }
    }
    if missing.iter().any(|index| *index >= data) {
        let data_shards: Vec<&[u8]> = shards[..data].iter().map(|shard| shard.as_deref().unwrap_or_default()).collect();
        let parity_shards = encode_shards(data, parity, shard_bytes, &data_shards)?;
        for (offset, shard) in parity_shards.into_iter().enumerate() {
            shards[data + offset].get_or_insert(shard);
        }
    }
    missing
        .into_iter()
        .map(|index| shards[index].take().ok_or_else(|| ErasureError::InvalidShards(format!("shard {index} not restored"))))
        .collect()
}

impl erasure::Host for State {
    fn engine(&mut self) -> wasmtime::Result<String> {
        Ok(engine_name().to_owned())
    }

    async fn encode(&mut self, data_count: u32, parity_count: u32, block: Vec<u8>) -> wasmtime::Result<Result<Vec<Vec<u8>>, ErasureError>> {
        // Encoding a 1 MiB block takes well under a millisecond with SIMD: cheaper inline than a
        // hand-off to the blocking pool.
        Ok(encode(data_count, parity_count, &block))
    }

    async fn reconstruct(
        &mut self,
        data_count: u32,
        parity_count: u32,
        shard_bytes: u32,
        shards: Vec<Option<Vec<u8>>>,
    ) -> wasmtime::Result<Result<Vec<Vec<u8>>, ErasureError>> {
        Ok(reconstruct(data_count, parity_count, shard_bytes, shards))
    }
}

pub fn add_to_linker(linker: &mut wasmtime::component::Linker<State>) -> wasmtime::Result<()> {
    erasure::add_to_linker::<State, HasSelf<State>>(linker, |state| state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32).map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8).collect()
    }

    #[test]
    fn any_parity_count_of_losses_is_rebuilt() {
        for (data, parity) in [(2u32, 2u32), (4, 2), (3, 1), (8, 4)] {
            for len in [1usize, 7, 1000, 65_536 + 3] {
                let block = block(len, data * 31 + parity);
                let shard_bytes = shards::shard_bytes(len, data as usize);
                let mut all: Vec<Vec<u8>> = (0..data as usize).map(|i| shards::data_shard(&block, i, shard_bytes)).collect();
                all.extend(encode(data, parity, &block).unwrap());
                for lost_start in 0..(data + parity) as usize {
                    let lost: Vec<usize> = (0..parity as usize).map(|k| (lost_start + k) % all.len()).collect();
                    let given: Vec<Option<Vec<u8>>> =
                        all.iter().enumerate().map(|(i, s)| (!lost.contains(&i)).then(|| s.clone())).collect();
                    let rebuilt = reconstruct(data, parity, shard_bytes as u32, given).unwrap();
                    let mut sorted = lost.clone();
                    sorted.sort();
                    for (index, shard) in sorted.iter().zip(rebuilt) {
                        assert_eq!(shard, all[*index], "{data}+{parity} len {len} shard {index}");
                    }
                }
            }
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(encode(0, 2, b"abc").is_err());
        assert!(encode(2, 2, b"").is_err());
        assert!(reconstruct(2, 2, 4, vec![None, None, None, Some(vec![0; 4])]).is_err());
        assert!(reconstruct(2, 2, 3, vec![Some(vec![0; 3]); 4]).is_err());
        assert!(reconstruct(2, 2, 4, vec![Some(vec![0; 4]); 3]).is_err());
    }
}
