//! What every drive implementation shares, as a plain library (no component exports, so any
//! crate can link it):
//! - `local`: the drive contract's path rules, faults and lock polling, and a drive folder over
//!   `std::fs`, which the native host serves its `drive` import with and the `drive-fs`
//!   component exports over `wasi:filesystem` preopens. `drive-kv` and `kv-fs` borrow the rules.

pub mod local;
