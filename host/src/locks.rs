//! The `locks` import: named exclusive locks in this process's memory, shared by every
//! request's instance. A lease is a resource, so a guest that traps or is dropped mid-request
//! releases its locks with its store; no lease can outlive its holder here, and `lease-ms`
//! (for hosts that cannot tell) is not needed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;
use wasmtime::component::{HasSelf, Resource};

use crate::bindings::locks::{self, LockError};
use crate::runtime::State;

/// The lock table: one async mutex per name while anyone holds or waits for it.
#[derive(Clone, Default)]
pub struct LockTable {
    names: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// The host value behind a guest's `lease` handle.
pub struct LeaseHandle {
    table: LockTable,
    name: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl LockTable {
    fn entry(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut names = self.names.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        names.entry(name.to_owned()).or_default().clone()
    }

    pub async fn acquire(&self, name: &str, wait: Duration) -> Result<LeaseHandle, LockError> {
        let mutex = self.entry(name);
        let guard = tokio::time::timeout(wait, mutex.lock_owned()).await.map_err(|_| LockError::Timeout)?;
        Ok(LeaseHandle { table: self.clone(), name: name.to_owned(), guard: Some(guard) })
    }
}

impl Drop for LeaseHandle {
    fn drop(&mut self) {
        self.guard.take();
        // Forget the name once nobody holds or waits for it, so the table stays small.
        let mut names = self.table.names.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if names.get(&self.name).is_some_and(|mutex| Arc::strong_count(mutex) == 1) {
            names.remove(&self.name);
        }
    }
}

impl locks::Host for State {
    async fn acquire(&mut self, name: String, wait_ms: u32, _lease_ms: u32) -> wasmtime::Result<Result<Resource<LeaseHandle>, LockError>> {
        match self.locks.acquire(&name, Duration::from_millis(u64::from(wait_ms))).await {
            Ok(lease) => Ok(Ok(self.table.push(lease)?)),
            Err(error) => Ok(Err(error)),
        }
    }
}

impl locks::HostLease for State {
    async fn drop(&mut self, handle: Resource<LeaseHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

pub fn add_to_linker(linker: &mut wasmtime::component::Linker<State>) -> wasmtime::Result<()> {
    locks::add_to_linker::<State, HasSelf<State>>(linker, |state| state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_is_held_by_one_lease_at_a_time() {
        let table = LockTable::default();
        let first = table.acquire("b/k", Duration::from_millis(10)).await.unwrap();
        assert!(matches!(table.acquire("b/k", Duration::from_millis(20)).await, Err(LockError::Timeout)));
        let other = table.acquire("b/other", Duration::from_millis(10)).await.unwrap();
        drop(first);
        let second = table.acquire("b/k", Duration::from_millis(10)).await.unwrap();
        drop((second, other));
        assert!(table.names.lock().unwrap().is_empty());
    }
}
