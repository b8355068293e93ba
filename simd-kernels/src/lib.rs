//! Kernels shared by every engine and component, so that native and Wasm builds agree bit for
//! bit: how a block is cut into shards, and the bitrot hash that guards each shard block.

pub mod bitrot;
pub mod shards;
