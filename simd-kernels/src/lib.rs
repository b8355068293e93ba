//! Kernels shared by every engine and component, so that native and Wasm builds agree bit for
//! bit: how a block is cut into shards, the bitrot hash that guards each shard block, and the
//! Reed-Solomon codec over any `reed-solomon-simd` engine.

pub mod bitrot;
pub mod codec;
pub mod shards;
#[cfg(target_arch = "wasm32")]
pub mod simd128;
