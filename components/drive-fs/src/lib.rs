//! Drives over a file system, in one implementation for both places a drive lives:
//! - `local`: a drive folder as plain Rust over `std::fs`; the native host serves its `drive`
//!   import with it;
//! - the `drive-fs` component (wasm32 only): the same code exporting `tessera:node/drive`, where
//!   each `wasi:filesystem` preopen is one drive — what `wasmtime serve` and Spin can grant.

pub mod local;

#[cfg(target_arch = "wasm32")]
mod component;
