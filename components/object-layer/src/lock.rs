//! Locks through the `locks` import: held only while a write commits or a heal repairs, so
//! that two commits on one key never interleave their metadata writes across drives.

use crate::bindings::tessera::node::locks::{self, Lease, LockError};
use crate::error::ObjectError;

/// How long a commit waits for another one on the same key (they take milliseconds).
const WAIT_MS: u32 = 10_000;
/// How long a lock file outlives a holder that crashed (where the host cannot tell).
const LEASE_MS: u32 = 30_000;

fn acquire(lock_name: &str, what: &str) -> Result<Lease, ObjectError> {
    locks::acquire(lock_name, WAIT_MS, LEASE_MS).map_err(|error| match error {
        LockError::Timeout => ObjectError::Busy(format!("{what}: other writes held it for {WAIT_MS} ms")),
        LockError::Unavailable(why) => ObjectError::InsufficientQuorum(format!("no lock for {what}: {why}")),
    })
}

/// Takes the lock of one object.
pub fn object(bucket: &str, key: &str) -> Result<Lease, ObjectError> {
    acquire(&format!("object/{bucket}/{key}"), &format!("{bucket}/{key}"))
}

/// Takes the lock of a node configuration document.
pub fn node_config(name: &str) -> Result<Lease, ObjectError> {
    acquire(&format!("config/{name}"), &format!("the {name} configuration"))
}
