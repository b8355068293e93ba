//! Drives over a key-value store, for hosts that grant key-value stores but no writable files
//! (Spin). One store is one drive. The drive contract (`wit/drive.wit`) is a small file system;
//! this crate keeps one in keys:
//!
//! - `dir:<path>`: a directory, as the index of its children (names, kinds) and its time;
//!   `dir:` is the root;
//! - `file:<path>`: a file record: size, time, and the bytes themselves when small, or the id of
//!   the blob holding them;
//! - `chunk:<blob>:<n>`: the blob's bytes, in chunks of at most 512 KiB (stores cap values);
//! - `lock:<name>`: a lock, as "expiry token", taken by compare-and-swap.
//!
//! Key-value stores have no multi-key transactions, so every change to the tree (create,
//! commit, rename, delete) runs under the drive's namespace lock, and its steps are ordered so
//! that a crash between them leaves nothing worse than an index entry without a record (listed,
//! but reads as absent: healing rewrites it) or a blob no record points to. A blob is never
//! pointed to by two records, so deleting one never takes another's bytes. Reads take no lock:
//! each is one `get`, which a store answers whole.

pub mod drive;
pub mod kv_lock;
pub mod records;
pub mod store;

#[cfg(target_arch = "wasm32")]
mod component;
