//! `wasi:keyvalue` (store and atomics, `0.2.0-draft2`) over files, for runtimes that grant
//! directories but no key-value store — the stock `wasmtime serve`. Composed in front of the
//! Spin build (`compose/spin-local.wac`), it runs the very node that goes to Spin, locally and in
//! the tests.
//!
//! Each store is a folder under the preopen `/kv`; each key one file, named by the key's hex in
//! segments of at most 200 characters (file names are bounded) with `.v` on the last. Values
//! are replaced atomically and durably (temp file, fsync, rename: `drive_core::local`).
//! Compare-and-swap holds a lock file on the key while it compares and writes, so two instances
//! never both win.

pub mod keys;

#[cfg(target_arch = "wasm32")]
mod component;
