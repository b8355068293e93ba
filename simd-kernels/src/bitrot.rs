//! The bitrot hash: BLAKE3, 32 bytes, over each shard block.
//!
//! Why BLAKE3 rather than MinIO's HighwayHash: it has maintained SIMD back ends for x86
//! (SSE4.1/AVX2/AVX-512), Arm (Neon) and Wasm (SIMD128, the `wasm32_simd` feature), chosen at
//! build or run time by the `blake3` crate, and it is a cryptographic hash, so a shard cannot be
//! forged to match. One implementation then serves the native host and every Wasm component.

/// Length of a bitrot hash in bytes.
pub const HASH_BYTES: usize = 32;

/// The bitrot hash of one shard block.
pub fn hash(data: &[u8]) -> [u8; HASH_BYTES] {
    *blake3::hash(data).as_bytes()
}

/// Whether `data` still matches the hash written beside it (constant-time comparison).
pub fn verify(data: &[u8], expected: &[u8; HASH_BYTES]) -> bool {
    blake3::hash(data) == blake3::Hash::from_bytes(*expected)
}
