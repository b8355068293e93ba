//! Locks in a key-value store: `lock:<name>` holds "expiry token" while taken, and is taken by
//! compare-and-swap, so two instances never both win. An expired value belonged to a holder
//! that vanished (a request killed mid-commit): it is free again.

use std::time::Duration;

use drive_core::local::{now_ms, poll_with_backoff, random_hex};

use crate::store::{KvError, KvStore};

/// Time a release may run late and still delete the key outright: within it no one else can
/// have taken the lock, so no one else's lease is deleted.
const RELEASE_MARGIN_MS: u64 = 1_000;

/// A held lock; dropping it releases the lock.
pub struct KvLease<S: KvStore> {
    store: S,
    key: String,
    value: Vec<u8>,
    expires_ms: u64,
}

fn lock_key(name: &str) -> String {
    format!("lock:{name}")
}

/// Whether a lock value leaves the lock free at `now`: released (empty), expired, or not a lock
/// value at all.
fn is_free(value: &[u8], now: u64) -> bool {
    let expiry = std::str::from_utf8(value).ok().and_then(|text| text.split(' ').next()).and_then(|expiry| expiry.parse::<u64>().ok());
    expiry.is_none_or(|expiry| expiry <= now)
}

/// Takes the lock on `name` if it is free now.
pub fn try_acquire<S: KvStore + Clone>(store: &S, name: &str, lease_ms: u64) -> Result<Option<KvLease<S>>, KvError> {
    let key = lock_key(name);
    let now = now_ms();
    let current = store.get(&key)?;
    if current.as_deref().is_some_and(|value| !is_free(value, now)) {
        return Ok(None);
    }
    let token = random_hex().map_err(|fault| KvError(format!("{fault:?}")))?;
    let expires_ms = now.saturating_add(lease_ms);
    let value = format!("{expires_ms} {token}").into_bytes();
    if !store.compare_and_swap(&key, current.as_deref(), &value)? {
        return Ok(None);
    }
    Ok(Some(KvLease { store: store.clone(), key, value, expires_ms }))
}

/// Takes the lock on `name`, waiting at most `wait` for it (`None` when it stayed taken).
pub fn acquire<S: KvStore + Clone>(store: &S, name: &str, wait: Duration, lease_ms: u64) -> Result<Option<KvLease<S>>, KvError> {
    poll_with_backoff(wait, || try_acquire(store, name, lease_ms))
}

impl<S: KvStore> Drop for KvLease<S> {
    fn drop(&mut self) {
        // Released in time: nobody else can hold it, and deleting leaves no key behind. Late:
        // only if it is still ours (someone may have broken the expired lease and taken it).
        let _ = if now_ms().saturating_add(RELEASE_MARGIN_MS) < self.expires_ms {
            self.store.delete(&self.key)
        } else {
            self.store.compare_and_swap(&self.key, Some(&self.value), b"").map(|_| ())
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn a_lock_excludes_until_released_or_expired() {
        let store = MemoryStore::default();
        let held = try_acquire(&store, "bucket/key", 30_000).unwrap().expect("free at first");
        assert!(try_acquire(&store, "bucket/key", 30_000).unwrap().is_none());
        assert!(try_acquire(&store, "bucket/other", 30_000).unwrap().is_some());
        drop(held);
        assert!(store.get("lock:bucket/key").unwrap().is_none(), "a timely release leaves no key");
        let _short = try_acquire(&store, "bucket/key", 0).unwrap().expect("free after release");
        // A zero lease has expired at once: the next one breaks it.
        assert!(try_acquire(&store, "bucket/key", 30_000).unwrap().is_some());
    }

    #[test]
    fn waiting_gives_up_after_the_wait() {
        let store = MemoryStore::default();
        let _held = try_acquire(&store, "k", 30_000).unwrap().unwrap();
        let started = std::time::Instant::now();
        assert!(acquire(&store, "k", Duration::from_millis(30), 30_000).unwrap().is_none());
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
