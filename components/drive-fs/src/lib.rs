//! The `drive-fs` component: `tessera:node/drive` over `wasi:filesystem`, where each preopen is
//! one drive — what `wasmtime serve` grants. The file-system code itself is
//! `drive_core::local`, shared with the native host.

#[cfg(target_arch = "wasm32")]
mod component;
