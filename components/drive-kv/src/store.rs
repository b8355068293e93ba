//! The four things a drive needs from a key-value store.

/// A store call that failed: the drive is then faulty (offline) until it answers again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvError(pub String);

/// A key-value store, as `wasi:keyvalue/store` + `atomics` give it.
pub trait KvStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    /// Deleting a missing key succeeds.
    fn delete(&self, key: &str) -> Result<(), KvError>;
    /// Sets `key` to `new` only if it still holds `expected` (`None`: absent); whether it did.
    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, KvError>;
}

/// An in-memory store, for the unit tests.
#[cfg(test)]
#[derive(Default, Clone)]
pub struct MemoryStore(pub std::rc::Rc<std::cell::RefCell<std::collections::BTreeMap<String, Vec<u8>>>>);

#[cfg(test)]
impl KvStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.0.borrow().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.0.borrow_mut().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.0.borrow_mut().remove(key);
        Ok(())
    }

    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool, KvError> {
        let mut map = self.0.borrow_mut();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        map.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }
}
