//! The erasure bench driver: calls whatever `erasure` it is linked to — the host import or an
//! `erasure-simd128` variant composed in — and times it with the Wasm monotonic clock.

mod bindings {
    wit_bindgen::generate!({
        world: "erasure-bench-driver",
        path: "../../wit",
    });
}

use std::time::Instant;

use bindings::exports::tessera::node::erasure_bench::{Guest, Operation};
use bindings::tessera::node::erasure;
use simd_kernels::shards;

struct Driver;

impl Guest for Driver {
    fn run(operation: Operation, data_count: u32, parity_count: u32, block_bytes: u32, iterations: u32) -> Result<u64, String> {
        let block = pseudo_random_block(block_bytes as usize);
        match operation {
            Operation::Encode => {
                let started = Instant::now();
                for _ in 0..iterations {
                    erasure::encode(data_count, parity_count, &block).map_err(|error| format!("{error:?}"))?;
                }
                Ok(started.elapsed().as_nanos() as u64)
            }
            Operation::Reconstruct => {
                let data = data_count as usize;
                let shard_bytes = shards::shard_bytes(block.len(), data);
                let parity = erasure::encode(data_count, parity_count, &block).map_err(|error| format!("{error:?}"))?;
                // Lose the first `parity` data shards: every one must be rebuilt.
                let lost = (parity_count as usize).min(data);
                let shards: Vec<Option<Vec<u8>>> = (0..data)
                    .map(|index| (index >= lost).then(|| shards::data_shard(&block, index, shard_bytes)))
                    .chain(parity.into_iter().map(Some))
                    .collect();
                let started = Instant::now();
                for _ in 0..iterations {
                    erasure::reconstruct(data_count, parity_count, shard_bytes as u32, &shards).map_err(|error| format!("{error:?}"))?;
                }
                Ok(started.elapsed().as_nanos() as u64)
            }
        }
    }
}

/// Bytes that do not compress or repeat, the same on every run.
fn pseudo_random_block(length: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

bindings::export!(Driver with_types_in bindings);
