//! Key locks, through the `locks` import: held only while a write commits or a heal repairs,
//! so that two commits on one key never interleave their metadata writes across drives.

use crate::bindings::tessera::node::locks::{self, Lease, LockError};
use crate::error::ObjectError;

/// How long a commit waits for another one on the same key (they take milliseconds).
const WAIT_MS: u32 = 10_000;
/// How long a lock file outlives a holder that crashed (where the host cannot tell).
const LEASE_MS: u32 = 30_000;

/// Takes the lock of one object.
pub fn object(bucket: &str, key: &str) -> Result<Lease, ObjectError> {
    locks::acquire(&format!("object/{bucket}/{key}"), WAIT_MS, LEASE_MS).map_err(|error| match error {
        LockError::Timeout => ObjectError::Busy(format!("{bucket}/{key}: other writes held it for {WAIT_MS} ms")),
        LockError::Unavailable(why) => ObjectError::InsufficientQuorum(format!("no lock for {bucket}/{key}: {why}")),
    })
}
