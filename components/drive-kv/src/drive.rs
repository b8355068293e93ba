//! One drive in one key-value store: the operations of `wit/drive.wit` over `dir:`, `file:`
//! and `chunk:` keys (see the crate docs for the layout and the crash rules).

use std::time::Duration;

use drive_core::local::{DriveResult, Entry, Fault, Info, MAX_CHUNK_BYTES, TEMP_DIR, checked_segments, now_ms, random_hex};

use crate::kv_lock::{self, KvLease};
use crate::records::{DirIndex, FileData, FileRecord};
use crate::store::{KvError, KvStore};

/// Files up to this size live in their record: one `get` reads them.
const INLINE_MAX_BYTES: usize = 64 << 10;
/// Bytes per chunk key. Stores cap values (Spin's cloud at 1 MB); half a MiB stays under all.
pub const CHUNK_BYTES: usize = 512 << 10;
/// The lock every change to a drive's tree is made under.
const NAMESPACE_LOCK: &str = "~namespace";
/// A change takes milliseconds; a holder killed mid-change keeps others out this long.
const NAMESPACE_LEASE_MS: u64 = 10_000;
/// How long a change waits for the namespace lock before the drive counts as faulty.
const NAMESPACE_WAIT: Duration = Duration::from_secs(30);

impl From<KvError> for Fault {
    fn from(error: KvError) -> Self {
        Fault::Faulty(format!("key-value store: {}", error.0))
    }
}

fn corrupt(key: &str) -> Fault {
    Fault::Faulty(format!("{key} holds a value that is not a drive record"))
}

fn dir_key(path: &str) -> String {
    format!("dir:{path}")
}

fn file_key(path: &str) -> String {
    format!("file:{path}")
}

fn chunk_key(blob: &str, number: u64) -> String {
    format!("chunk:{blob}:{number}")
}

/// The parent directory ("" for the root) and the last segment of a checked path.
fn split_parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// A drive: one store and its label.
#[derive(Clone)]
pub struct KvDrive<S> {
    label: String,
    store: S,
}

impl<S: KvStore + Clone> KvDrive<S> {
    pub fn new(label: String, store: S) -> Self {
        Self { label, store }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether the store answers; creates the root directory of a new drive.
    pub fn check(&self) -> DriveResult<()> {
        if self.store.get(&dir_key(""))?.is_none() {
            self.under_namespace_lock(|| self.ensure_dir(""))?;
        }
        Ok(())
    }

    fn under_namespace_lock<T>(&self, change: impl FnOnce() -> DriveResult<T>) -> DriveResult<T> {
        let lease: Option<KvLease<S>> = kv_lock::acquire(&self.store, NAMESPACE_LOCK, NAMESPACE_WAIT, NAMESPACE_LEASE_MS)?;
        let Some(_lease) = lease else {
            return Err(Fault::Faulty(format!("the namespace lock of drive {} stayed taken for {NAMESPACE_WAIT:?}", self.label)));
        };
        change()
    }

    fn file_record(&self, path: &str) -> DriveResult<Option<FileRecord>> {
        let key = file_key(path);
        match self.store.get(&key)? {
            Some(bytes) => FileRecord::decode(&bytes).map(Some).map_err(|_| corrupt(&key)),
            None => Ok(None),
        }
    }

    fn dir_index(&self, path: &str) -> DriveResult<Option<DirIndex>> {
        let key = dir_key(path);
        match self.store.get(&key)? {
            Some(bytes) => DirIndex::decode(&bytes).map(Some).map_err(|_| corrupt(&key)),
            None => Ok(None),
        }
    }

    fn existing_file(&self, path: &str) -> DriveResult<FileRecord> {
        checked_segments(path, false)?;
        self.file_record(path)?.ok_or(Fault::NotFound)
    }

    pub fn read_file(&self, path: &str, max_bytes: u32) -> DriveResult<Vec<u8>> {
        let record = self.existing_file(path)?;
        if record.size > u64::from(max_bytes) {
            return Err(Fault::TooLarge);
        }
        self.read_record(&record, 0, record.size as usize)
    }

    pub fn read_range(&self, path: &str, offset: u64, length: u32) -> DriveResult<Vec<u8>> {
        if length as usize > MAX_CHUNK_BYTES {
            return Err(Fault::TooLarge);
        }
        let record = self.existing_file(path)?;
        self.read_record(&record, offset, length as usize)
    }

    /// Up to `length` bytes of a file from `offset`; fewer only at its end.
    pub fn read_record(&self, record: &FileRecord, offset: u64, length: usize) -> DriveResult<Vec<u8>> {
        let end = record.size.min(offset.saturating_add(length as u64));
        if offset >= end {
            return Ok(Vec::new());
        }
        match &record.data {
            FileData::Inline(data) => Ok(data[offset as usize..end as usize].to_vec()),
            FileData::Chunked { blob, chunk_bytes } => {
                let chunk_bytes = u64::from(*chunk_bytes);
                let mut bytes = Vec::with_capacity((end - offset) as usize);
                let mut position = offset;
                while position < end {
                    let number = position / chunk_bytes;
                    let key = chunk_key(blob, number);
                    // A chunk that is gone was freed by a newer version of this path.
                    let chunk = self.store.get(&key)?.ok_or(Fault::NotFound)?;
                    let start = (position - number * chunk_bytes) as usize;
                    let stop = (end - number * chunk_bytes).min(chunk.len() as u64) as usize;
                    if start >= stop {
                        return Err(corrupt(&key));
                    }
                    bytes.extend_from_slice(&chunk[start..stop]);
                    position += (stop - start) as u64;
                }
                Ok(bytes)
            }
        }
    }

    /// Opens a file: its record, read once, stays the reader's view of it.
    pub fn open_file(&self, path: &str) -> DriveResult<FileRecord> {
        self.existing_file(path)
    }

    /// Small files go into their record in one change; larger ones through a writer.
    pub fn write_file(&self, path: &str, data: &[u8]) -> DriveResult<()> {
        checked_segments(path, false)?;
        if data.len() > INLINE_MAX_BYTES {
            let mut writer = self.create_file(path)?;
            for piece in data.chunks(MAX_CHUNK_BYTES) {
                writer.append(piece)?;
            }
            return writer.commit();
        }
        let record = FileRecord { size: data.len() as u64, modified_ms: now_ms(), data: FileData::Inline(data.to_vec()) };
        self.under_namespace_lock(|| self.link_file(path, &record))
    }

    /// A writer whose blob is recorded at once as a temp file (`.tessera/tmp/<blob>`), so that
    /// the chunks of a write that never commits can be found and removed with that file.
    pub fn create_file(&self, path: &str) -> DriveResult<KvWriter<S>> {
        checked_segments(path, false)?;
        let blob = random_hex()?;
        let temp_path = format!("{TEMP_DIR}/{blob}");
        let record =
            FileRecord { size: 0, modified_ms: now_ms(), data: FileData::Chunked { blob: blob.clone(), chunk_bytes: CHUNK_BYTES as u32 } };
        self.under_namespace_lock(|| self.link_file(&temp_path, &record))?;
        Ok(KvWriter { drive: self.clone(), final_path: path.to_owned(), temp_path, record, buffer: Vec::new(), open: true })
    }

    pub fn rename(&self, source: &str, destination: &str) -> DriveResult<()> {
        checked_segments(source, false)?;
        checked_segments(destination, false)?;
        self.under_namespace_lock(|| self.move_path(source, destination))
    }

    pub fn delete(&self, path: &str, recursive: bool) -> DriveResult<()> {
        checked_segments(path, false)?;
        self.under_namespace_lock(|| self.remove_path(path, recursive))
    }

    pub fn prune_empty_dirs(&self, path: &str, stop_at: &str) -> DriveResult<()> {
        checked_segments(stop_at, true)?;
        checked_segments(path, false)?;
        let inside = |current: &str| current != stop_at && (stop_at.is_empty() || current.starts_with(&format!("{stop_at}/")));
        self.under_namespace_lock(|| {
            let mut current = path.to_owned();
            while inside(&current) {
                if let Some(index) = self.dir_index(&current)? {
                    if !index.entries.is_empty() {
                        // Another key lives below: the pruning ends here.
                        return Ok(());
                    }
                    self.store.delete(&dir_key(&current))?;
                }
                let (parent, name) = split_parent(&current);
                self.remove_entry(parent, name)?;
                current = parent.to_owned();
            }
            Ok(())
        })
    }

    pub fn make_dir(&self, path: &str) -> DriveResult<()> {
        checked_segments(path, false)?;
        if self.store.get(&dir_key(path))?.is_some() {
            return Ok(());
        }
        self.under_namespace_lock(|| self.ensure_dir(path))
    }

    pub fn list_dir(&self, path: &str) -> DriveResult<Vec<Entry>> {
        checked_segments(path, true)?;
        let index = self.dir_index(path)?.ok_or(Fault::NotFound)?;
        Ok(index.entries.into_iter().map(|(name, is_dir)| Entry { name, is_dir }).collect())
    }

    pub fn stat(&self, path: &str) -> DriveResult<Info> {
        checked_segments(path, true)?;
        if !path.is_empty()
            && let Some(record) = self.file_record(path)?
        {
            return Ok(Info { size: record.size, is_dir: false, modified_ms: record.modified_ms });
        }
        let index = self.dir_index(path)?.ok_or(Fault::NotFound)?;
        Ok(Info { size: 0, is_dir: true, modified_ms: index.modified_ms })
    }

    // The changes below run under the namespace lock.

    /// Makes a directory and its missing parents: each is listed in its parent before its own
    /// index exists, so a crash leaves at worst a listed directory that is empty.
    fn ensure_dir(&self, path: &str) -> DriveResult<()> {
        if self.store.get(&dir_key(path))?.is_some() {
            return Ok(());
        }
        if !path.is_empty() {
            let (parent, name) = split_parent(path);
            self.ensure_dir(parent)?;
            self.add_entry(parent, name, true)?;
        }
        self.store.set(&dir_key(path), &DirIndex::new(now_ms()).encode())?;
        Ok(())
    }

    fn add_entry(&self, dir: &str, name: &str, is_dir: bool) -> DriveResult<()> {
        let mut index = self.dir_index(dir)?.ok_or(Fault::NotFound)?;
        match index.entries.get(name) {
            Some(existing) if *existing == is_dir => return Ok(()),
            Some(_) => return Err(Fault::Faulty(format!("{dir}/{name} is a file and a directory at once"))),
            None => {}
        }
        index.entries.insert(name.to_owned(), is_dir);
        self.store.set(&dir_key(dir), &index.encode())?;
        Ok(())
    }

    fn remove_entry(&self, dir: &str, name: &str) -> DriveResult<()> {
        if let Some(mut index) = self.dir_index(dir)?
            && index.entries.remove(name).is_some()
        {
            self.store.set(&dir_key(dir), &index.encode())?;
        }
        Ok(())
    }

    /// Points `path` at `record`, replacing (and freeing) what it pointed at.
    fn link_file(&self, path: &str, record: &FileRecord) -> DriveResult<()> {
        let (parent, name) = split_parent(path);
        if self.dir_index(path)?.is_some() {
            return Err(Fault::Faulty(format!("{path} is a directory")));
        }
        self.ensure_dir(parent)?;
        self.add_entry(parent, name, false)?;
        let previous = self.file_record(path)?;
        self.store.set(&file_key(path), &record.encode())?;
        if let Some(previous) = previous
            && previous.data != record.data
        {
            self.free_chunks(&previous)?;
        }
        Ok(())
    }

    /// Removes a record from its path without freeing its bytes (they move elsewhere).
    fn unlink_file(&self, path: &str) -> DriveResult<()> {
        self.store.delete(&file_key(path))?;
        let (parent, name) = split_parent(path);
        self.remove_entry(parent, name)
    }

    fn free_chunks(&self, record: &FileRecord) -> DriveResult<()> {
        if let FileData::Chunked { blob, .. } = &record.data {
            for number in 0..record.chunk_count() {
                self.store.delete(&chunk_key(blob, number))?;
            }
        }
        Ok(())
    }

    fn move_path(&self, source: &str, destination: &str) -> DriveResult<()> {
        if let Some(record) = self.file_record(source)? {
            // Unlinked first: a crash between the steps must not leave two records on one blob.
            self.unlink_file(source)?;
            return self.link_file(destination, &record);
        }
        let index = self.dir_index(source)?.ok_or(Fault::NotFound)?;
        self.ensure_dir(destination)?;
        for name in index.entries.keys() {
            self.move_path(&format!("{source}/{name}"), &format!("{destination}/{name}"))?;
        }
        self.store.delete(&dir_key(source))?;
        let (parent, name) = split_parent(source);
        self.remove_entry(parent, name)
    }

    fn remove_path(&self, path: &str, recursive: bool) -> DriveResult<()> {
        if let Some(record) = self.file_record(path)? {
            self.unlink_file(path)?;
            return self.free_chunks(&record);
        }
        if let Some(index) = self.dir_index(path)? {
            if !index.entries.is_empty() && !recursive {
                return Err(Fault::NotEmpty);
            }
            for name in index.entries.keys() {
                self.remove_path(&format!("{path}/{name}"), true)?;
            }
            self.store.delete(&dir_key(path))?;
        }
        // Also drops an entry a crash left without its record.
        let (parent, name) = split_parent(path);
        self.remove_entry(parent, name)
    }
}

/// A streamed write: chunks go to the store as they fill, the record moves to its path at
/// `commit`. Dropping it uncommitted aborts it.
pub struct KvWriter<S: KvStore + Clone> {
    drive: KvDrive<S>,
    final_path: String,
    temp_path: String,
    /// The temp file's record: its size counts every chunk that may have reached the store.
    record: FileRecord,
    buffer: Vec<u8>,
    open: bool,
}

impl<S: KvStore + Clone> KvWriter<S> {
    pub fn append(&mut self, data: &[u8]) -> DriveResult<()> {
        if !self.open {
            return Err(Fault::Faulty("writer already closed".into()));
        }
        if data.len() > MAX_CHUNK_BYTES {
            return Err(Fault::TooLarge);
        }
        self.buffer.extend_from_slice(data);
        while self.buffer.len() >= CHUNK_BYTES {
            let rest = self.buffer.split_off(CHUNK_BYTES);
            let chunk = std::mem::replace(&mut self.buffer, rest);
            self.put_chunk(&chunk)?;
        }
        Ok(())
    }

    /// The record grows before the chunk is stored: a crash then leaves the chunk findable.
    fn put_chunk(&mut self, chunk: &[u8]) -> DriveResult<()> {
        let FileData::Chunked { blob, .. } = &self.record.data else { unreachable!("writers are chunked") };
        let number = self.record.chunk_count();
        let key = chunk_key(blob, number);
        self.record.size += chunk.len() as u64;
        // A write that still streams is not stale (heal sweeps temp files a day old).
        self.record.modified_ms = now_ms();
        self.drive.store.set(&file_key(&self.temp_path), &self.record.encode())?;
        self.drive.store.set(&key, chunk)?;
        Ok(())
    }

    pub fn commit(&mut self) -> DriveResult<()> {
        if !self.open {
            return Err(Fault::Faulty("writer already closed".into()));
        }
        self.open = false;
        if !self.buffer.is_empty() {
            let chunk = std::mem::take(&mut self.buffer);
            if let Err(fault) = self.put_chunk(&chunk) {
                self.discard();
                return Err(fault);
            }
        }
        self.record.modified_ms = now_ms();
        let drive = &self.drive;
        let result = drive.under_namespace_lock(|| {
            drive.unlink_file(&self.temp_path)?;
            drive.link_file(&self.final_path, &self.record)
        });
        // Only while the temp record stands are its chunks surely no one else's.
        if result.is_err() && matches!(drive.file_record(&self.temp_path), Ok(Some(_))) {
            self.discard();
        }
        result
    }

    pub fn abort(&mut self) {
        if std::mem::replace(&mut self.open, false) {
            self.discard();
        }
    }

    fn discard(&mut self) {
        let drive = &self.drive;
        let _ = drive.under_namespace_lock(|| drive.remove_path(&self.temp_path, false));
        // Chunks the record never counted (it failed to grow) cannot exist: it grows first.
        let _ = drive.free_chunks(&self.record);
    }
}

impl<S: KvStore + Clone> Drop for KvWriter<S> {
    fn drop(&mut self) {
        self.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn drive() -> (MemoryStore, KvDrive<MemoryStore>) {
        let store = MemoryStore::default();
        let drive = KvDrive::new("d1".into(), store.clone());
        drive.check().unwrap();
        (store, drive)
    }

    fn names(drive: &KvDrive<MemoryStore>, path: &str) -> Vec<(String, bool)> {
        drive.list_dir(path).unwrap().into_iter().map(|entry| (entry.name, entry.is_dir)).collect()
    }

    fn pattern(length: usize) -> Vec<u8> {
        (0..length).map(|index| (index * 31 % 251) as u8).collect()
    }

    #[test]
    fn small_files_are_written_listed_read_and_replaced() {
        let (_store, drive) = drive();
        drive.write_file("bucket/key/.meta", b"one").unwrap();
        assert_eq!(names(&drive, ""), vec![("bucket".into(), true)]);
        assert_eq!(names(&drive, "bucket/key"), vec![(".meta".into(), false)]);
        assert_eq!(drive.read_file("bucket/key/.meta", 10).unwrap(), b"one");
        assert_eq!(drive.read_file("bucket/key/.meta", 2), Err(Fault::TooLarge));
        drive.write_file("bucket/key/.meta", b"two!").unwrap();
        assert_eq!(drive.stat("bucket/key/.meta").unwrap().size, 4);
        assert!(drive.stat("bucket/key").unwrap().is_dir);
        assert_eq!(drive.read_file("bucket/nothing", 10), Err(Fault::NotFound));
        assert_eq!(drive.list_dir("nothing").err(), Some(Fault::NotFound));
    }

    #[test]
    fn streamed_files_appear_at_commit_and_read_back_in_ranges() {
        let (store, drive) = drive();
        let data = pattern(3 * CHUNK_BYTES + 1234);
        let mut writer = drive.create_file("b/k/dd/part.1").unwrap();
        for piece in data.chunks(300_000) {
            writer.append(piece).unwrap();
        }
        assert_eq!(drive.stat("b/k/dd/part.1").err(), Some(Fault::NotFound), "invisible before commit");
        writer.commit().unwrap();
        assert_eq!(drive.list_dir(TEMP_DIR).unwrap().len(), 0, "the temp record is gone");
        assert_eq!(drive.read_file("b/k/dd/part.1", u32::MAX).unwrap(), data);
        let range = drive.read_range("b/k/dd/part.1", CHUNK_BYTES as u64 - 10, 4 << 20).unwrap();
        assert_eq!(range, data[CHUNK_BYTES - 10..]);
        assert_eq!(drive.read_range("b/k/dd/part.1", data.len() as u64 + 5, 10).unwrap(), b"");
        // Replacing frees the old chunks.
        drive.write_file("b/k/dd/part.1", b"small").unwrap();
        assert_eq!(store.0.borrow().keys().filter(|key| key.starts_with("chunk:")).count(), 0);
    }

    #[test]
    fn aborted_and_dropped_writers_leave_nothing() {
        let (store, drive) = drive();
        let mut writer = drive.create_file("b/k/part.1").unwrap();
        writer.append(&pattern(CHUNK_BYTES + 5)).unwrap();
        writer.abort();
        let mut dropped = drive.create_file("b/k/part.2").unwrap();
        dropped.append(&pattern(2 * CHUNK_BYTES)).unwrap();
        drop(dropped);
        let keys: Vec<String> = store.0.borrow().keys().cloned().collect();
        assert!(keys.iter().all(|key| !key.starts_with("chunk:") && !key.starts_with("file:")), "left: {keys:?}");
        assert_eq!(drive.list_dir(TEMP_DIR).unwrap().len(), 0);
    }

    #[test]
    fn renames_move_files_and_trees() {
        let (_store, drive) = drive();
        drive.write_file(".tessera/multipart/u/part.1.x", &pattern(INLINE_MAX_BYTES + 1)).unwrap();
        drive.rename(".tessera/multipart/u/part.1.x", "b/k/dd/part.1").unwrap();
        assert_eq!(drive.read_file("b/k/dd/part.1", u32::MAX).unwrap(), pattern(INLINE_MAX_BYTES + 1));
        assert!(drive.list_dir(".tessera/multipart/u").unwrap().is_empty());
        drive.rename("b/k", "b/k2").unwrap();
        assert_eq!(drive.read_file("b/k2/dd/part.1", u32::MAX).unwrap(), pattern(INLINE_MAX_BYTES + 1));
        assert_eq!(names(&drive, "b"), vec![("k2".into(), true)]);
        assert_eq!(drive.rename("b/none", "b/x"), Err(Fault::NotFound));
    }

    #[test]
    fn deletes_and_prunes_follow_the_contract() {
        let (store, drive) = drive();
        drive.write_file("b/k/dd/part.1", &pattern(CHUNK_BYTES * 2)).unwrap();
        drive.write_file("b/k/.meta", b"m").unwrap();
        drive.write_file("b/other/.meta", b"m").unwrap();
        assert_eq!(drive.delete("b/k", false), Err(Fault::NotEmpty));
        drive.delete("b/k/dd", true).unwrap();
        drive.delete("b/k/dd", true).unwrap();
        assert_eq!(store.0.borrow().keys().filter(|key| key.starts_with("chunk:")).count(), 0);
        drive.delete("b/k/.meta", false).unwrap();
        drive.prune_empty_dirs("b/k", "b").unwrap();
        assert_eq!(names(&drive, "b"), vec![("other".into(), true)]);
        drive.delete("b/other/.meta", false).unwrap();
        drive.prune_empty_dirs("b/other", "b").unwrap();
        assert!(drive.list_dir("b").unwrap().is_empty(), "the bucket itself stays");
        drive.make_dir("c/d").unwrap();
        assert!(drive.stat("c/d").unwrap().is_dir);
        assert_eq!(drive.write_file("../x", b"").err(), Some(Fault::InvalidPath("empty, '.' or '..' segment".into())));
    }

    #[test]
    fn an_entry_left_by_a_crash_reads_as_absent_and_goes_with_a_delete() {
        let (store, drive) = drive();
        drive.write_file("b/k/.meta", b"m").unwrap();
        store.0.borrow_mut().remove("file:b/k/.meta");
        assert_eq!(names(&drive, "b/k"), vec![(".meta".into(), false)]);
        assert_eq!(drive.read_file("b/k/.meta", 10), Err(Fault::NotFound));
        drive.delete("b/k/.meta", false).unwrap();
        assert!(drive.list_dir("b/k").unwrap().is_empty());
    }
}
