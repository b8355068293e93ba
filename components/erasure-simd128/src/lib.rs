//! The erasure engine component: exports `tessera:node/erasure` computed inside Wasm, for nodes
//! composed without the host's native SIMD. One source builds two variants: with
//! `-C target-feature=+simd128` it runs `simd_kernels::simd128::Simd128`, otherwise
//! reed-solomon-simd's portable `NoSimd` engine. This file is only glue: the codec, and the
//! checks that make both variants agree with the host bit for bit, are `simd_kernels::codec`.

mod bindings {
    wit_bindgen::generate!({
        world: "erasure-engine",
        path: "../../wit",
    });
}

use bindings::exports::tessera::node::erasure::{ErasureError, Guest};
use simd_kernels::codec::{self, CodecError};

#[cfg(target_feature = "simd128")]
type ErasureEngine = simd_kernels::simd128::Simd128;
#[cfg(not(target_feature = "simd128"))]
type ErasureEngine = reed_solomon_simd::engine::NoSimd;

/// The name `engine()` reports, for the host's logs.
const ENGINE_NAME: &str = if cfg!(target_feature = "simd128") { "simd128" } else { "scalar" };

struct ErasureComponent;

impl Guest for ErasureComponent {
    fn engine() -> String {
        ENGINE_NAME.to_owned()
    }

    fn encode(data_count: u32, parity_count: u32, block: Vec<u8>) -> Result<Vec<Vec<u8>>, ErasureError> {
        Ok(codec::encode_parity(ErasureEngine::new(), data_count, parity_count, &block)?)
    }

    fn reconstruct(
        data_count: u32,
        parity_count: u32,
        shard_bytes: u32,
        shards: Vec<Option<Vec<u8>>>,
    ) -> Result<Vec<Vec<u8>>, ErasureError> {
        Ok(codec::reconstruct(ErasureEngine::new(), data_count, parity_count, shard_bytes, shards)?)
    }
}

impl From<CodecError> for ErasureError {
    fn from(error: CodecError) -> Self {
        match error {
            CodecError::InvalidLayout(reason) => ErasureError::InvalidLayout(reason),
            CodecError::InvalidShards(reason) => ErasureError::InvalidShards(reason),
            CodecError::TooFewShards => ErasureError::TooFewShards,
        }
    }
}

bindings::export!(ErasureComponent with_types_in bindings);
