//! The `guardrail` transform component: `guardrail-core`'s detectors behind
//! `tessera:node/transform` (the detectors are a crate of their own so that `objects-guard` can
//! link them without this component's export).

#[cfg(target_arch = "wasm32")]
mod component;
