//! Writing and deleting objects.
//!
//! A put streams the object through 1 MiB erasure blocks: each block is cut into data shards,
//! parity is computed by the `erasure` import, and every drive appends its shard — preceded by
//! the shard's bitrot hash — to a shard file in its temp area. At `finish` the shard files are
//! committed (fsync + rename into a fresh data directory), then the metadata file is replaced
//! atomically on every drive: the object becomes visible only by that last rename. Objects of
//! at most 128 KiB skip the shard file and travel inline in the metadata: one write per drive.

use std::cell::RefCell;

use md5::{Digest, Md5};
use simd_kernels::{bitrot, shards};

use crate::bindings::exports::tessera::node::objects::{DeleteResult, GuestUpload, ObjectInfo, PutOptions, ReplicaSource, WriteCondition};
use crate::bindings::tessera::node::drive::{self, Drive, DriveError, Writer};
use crate::bindings::tessera::node::erasure;
use crate::buckets;
use crate::error::ObjectError;
use crate::layout::{BLOCK_BYTES, INLINE_MAX_BYTES, distribution};
use crate::lock;
use crate::meta::{self, MAX_META_BYTES, ObjectMeta, ObjectVersion, ReplicationState, VersionKind};
use crate::names::key_to_path;
use crate::replication;
use crate::set::{self, ErasureSet};
use crate::versioning::{self, Mode};

/// The largest object a single put accepts (as S3: 5 GiB).
pub const MAX_PUT_BYTES: u64 = 5 << 30;
/// The most user metadata an object carries, names and values together (as S3: 2 KiB).
pub const MAX_USER_METADATA_BYTES: usize = 2048;

/// The `upload` resource: an object being written.
pub struct Upload {
    state: RefCell<Option<Writing>>,
}

/// Where an upload's shards go.
enum Destination {
    /// An object: a fresh data directory, then the metadata.
    Object,
    /// One part of a multipart upload: a shard file in the upload's directory, then a part
    /// record beside it (`multipart`).
    Part { upload_dir: String, number: u32, file: String },
}

struct Writing {
    set: ErasureSet,
    bucket: String,
    key: String,
    object_dir: String,
    options: PutOptions,
    destination: Destination,
    /// Shard index held by each drive position.
    distribution: Vec<u8>,
    data_dir: String,
    /// Bytes not yet encoded: less than one block.
    pending: Vec<u8>,
    md5: Md5,
    size: u64,
    /// One shard-file writer per drive position, opened with the first full block; `None` once
    /// that drive failed.
    writers: Option<Vec<Option<Writer>>>,
}

impl Upload {
    pub fn begin(set: ErasureSet, bucket: String, key: String, options: PutOptions) -> Result<Self, ObjectError> {
        let key_path = key_to_path(&key)?;
        let metadata_bytes: usize = options.user_metadata.iter().map(|(name, value)| name.len() + value.len()).sum();
        if metadata_bytes > MAX_USER_METADATA_BYTES {
            return Err(ObjectError::MetadataTooLarge);
        }
        if options.size.is_some_and(|size| size > MAX_PUT_BYTES) {
            return Err(ObjectError::EntityTooLarge);
        }
        crate::tags::validate(&options.tags, crate::tags::MAX_OBJECT_TAGS)?;
        buckets::head(&set, &bucket)?;
        let data_dir = set::random_id()?;
        Ok(Self::new(set, bucket, &key_path, key, options, Destination::Object, data_dir))
    }

    /// An upload of one part of a multipart upload into `upload_dir`.
    pub fn begin_part(
        set: ErasureSet,
        bucket: String,
        key: String,
        upload_dir: String,
        number: u32,
        options: PutOptions,
    ) -> Result<Self, ObjectError> {
        if options.size.is_some_and(|size| size > MAX_PUT_BYTES) {
            return Err(ObjectError::EntityTooLarge);
        }
        let key_path = key_to_path(&key)?;
        let destination = Destination::Part { upload_dir, number, file: format!("part.{number}.{}", set::random_id()?) };
        Ok(Self::new(set, bucket, &key_path, key, options, destination, String::new()))
    }

    /// The state both kinds of upload start from: nothing written yet.
    fn new(
        set: ErasureSet,
        bucket: String,
        key_path: &str,
        key: String,
        options: PutOptions,
        destination: Destination,
        data_dir: String,
    ) -> Self {
        let writing = Writing {
            destination,
            distribution: distribution(&key, set.layout.drive_count()),
            object_dir: set::object_dir(&bucket, key_path),
            data_dir,
            pending: Vec::with_capacity(BLOCK_BYTES),
            md5: Md5::new(),
            size: 0,
            writers: None,
            set,
            bucket,
            key,
            options,
        };
        Self { state: RefCell::new(Some(writing)) }
    }

    fn with_state<T>(&self, op: impl FnOnce(&mut Writing) -> Result<T, ObjectError>) -> Result<T, ObjectError> {
        let mut state = self.state.borrow_mut();
        let writing = state.as_mut().ok_or_else(|| ObjectError::InvalidArgument("upload already finished".into()))?;
        let result = op(writing);
        if result.is_err() {
            // A failed upload leaves nothing behind: dropping the writers aborts them.
            *state = None;
        }
        result
    }
}

impl GuestUpload for Upload {
    fn write(&self, data: Vec<u8>) -> Result<(), crate::bindings::exports::tessera::node::objects::ObjectError> {
        Ok(self.with_state(|writing| writing.write(&data))?)
    }

    fn finish(&self) -> Result<ObjectInfo, crate::bindings::exports::tessera::node::objects::ObjectError> {
        let writing = self.state.borrow_mut().take();
        let writing = writing.ok_or_else(|| ObjectError::InvalidArgument("upload already finished".into()))?;
        Ok(writing.finish()?)
    }

    fn set_checksums(&self, checksums: Vec<(String, String)>) {
        if let Some(writing) = self.state.borrow_mut().as_mut() {
            writing.options.checksums = checksums;
        }
    }

    fn abort(&self) {
        self.state.borrow_mut().take();
    }
}

impl Writing {
    fn write(&mut self, mut data: &[u8]) -> Result<(), ObjectError> {
        self.size += data.len() as u64;
        if self.size > self.options.size.unwrap_or(MAX_PUT_BYTES) {
            return Err(match self.options.size {
                Some(_) => ObjectError::InvalidArgument("body longer than Content-Length".into()),
                None => ObjectError::EntityTooLarge,
            });
        }
        self.md5.update(data);
        while !data.is_empty() {
            let room = BLOCK_BYTES - self.pending.len();
            let (now, later) = data.split_at(room.min(data.len()));
            self.pending.extend_from_slice(now);
            data = later;
            if self.pending.len() == BLOCK_BYTES {
                let block = std::mem::replace(&mut self.pending, Vec::with_capacity(BLOCK_BYTES));
                self.write_block(&block)?;
            }
        }
        Ok(())
    }

    /// Encodes one block and appends each drive's shard record to its shard file.
    fn write_block(&mut self, block: &[u8]) -> Result<(), ObjectError> {
        let records = encode_block(&self.set, &self.distribution, block)?;
        let writers = match &mut self.writers {
            Some(writers) => writers,
            None => self.writers.insert(open_writers(&self.set, &self.shard_path())?),
        };
        for (slot, record) in writers.iter_mut().zip(records) {
            if let Some(writer) = slot
                && writer.append(&record).is_err()
            {
                *slot = None;
            }
        }
        require_alive(writers, self.set.layout.write_quorum())
    }

    fn shard_path(&self) -> String {
        match &self.destination {
            Destination::Object => set::shard_path(&self.object_dir, &self.data_dir),
            Destination::Part { upload_dir, file, .. } => format!("{upload_dir}/{file}"),
        }
    }

    fn finish(mut self) -> Result<ObjectInfo, ObjectError> {
        if let Some(expected) = self.options.size
            && expected != self.size
        {
            return Err(ObjectError::IncompleteBody);
        }
        let etag = self.md5.clone().finalize();
        if let Some(expected) = &self.options.content_md5
            && expected.as_slice() != etag.as_slice()
        {
            return Err(ObjectError::BadDigest);
        }
        let etag: String = etag.iter().map(|byte| format!("{byte:02x}")).collect();
        if let Destination::Part { .. } = self.destination {
            return self.finish_part(etag);
        }
        let inline = self.writers.is_none() && self.pending.len() <= INLINE_MAX_BYTES;
        let drive_count = self.set.layout.drive_count();
        // What each drive position gets: its inline shard, or nothing when the shard is in a file.
        let mut inline_shards = vec![Vec::new(); drive_count];
        let mut committed = vec![true; drive_count];
        let pending = std::mem::take(&mut self.pending);
        if inline {
            if !pending.is_empty() {
                inline_shards = encode_block(&self.set, &self.distribution, &pending)?;
            }
        } else {
            if !pending.is_empty() {
                self.write_block(&pending)?;
            }
            let writers = self.writers.take().unwrap_or_default();
            let alive: Vec<&Writer> = writers.iter().flatten().collect();
            let mut outcomes = drive::commit_all(&alive).into_iter();
            committed = writers.iter().map(|writer| writer.is_some() && outcomes.next().is_some_and(|outcome| outcome.is_ok())).collect();
            let alive = committed.iter().filter(|ok| **ok).count();
            if alive < self.set.layout.write_quorum() {
                self.remove_data_dirs();
                return Err(ObjectError::InsufficientQuorum(format!("{alive} of {drive_count} drives committed their shards")));
            }
        }
        let version = ObjectVersion {
            version_id: "null".into(),
            kind: VersionKind::Object,
            modified_ms: set::now_ms(),
            size: self.size,
            etag,
            content_type: self.options.content_type.clone(),
            user_metadata: self.options.user_metadata.clone(),
            headers: self.options.headers.clone(),
            checksums: self.options.checksums.clone(),
            tags: self.options.tags.clone(),
            replication: None,
            data_count: self.set.layout.data as u8,
            parity_count: self.set.layout.parity as u8,
            block_bytes: BLOCK_BYTES as u32,
            distribution: self.distribution.clone(),
            shard_index: 0,
            data_dir: if inline { String::new() } else { self.data_dir.clone() },
            inline_shard: Vec::new(),
            parts: Vec::new(),
        };
        let commit = Commit { set: &self.set, bucket: &self.bucket, key: &self.key, object_dir: &self.object_dir };
        let published =
            commit.publish(&version, inline_shards, &committed, self.options.condition.as_ref(), self.options.replica.as_ref())?;
        Ok(commit.info_of(published))
    }

    /// A part is always a shard file (even an empty one), committed on a write quorum of drives,
    /// then described by a part record on the drives that hold it.
    fn finish_part(mut self, etag: String) -> Result<ObjectInfo, ObjectError> {
        let Destination::Part { upload_dir, number, file } = &self.destination else {
            return Err(ObjectError::Internal("not a part".into()));
        };
        let (upload_dir, number, file) = (upload_dir.clone(), *number, file.clone());
        let pending = std::mem::take(&mut self.pending);
        if self.writers.is_none() {
            self.writers = Some(open_writers(&self.set, &self.shard_path())?);
        }
        if !pending.is_empty() {
            self.write_block(&pending)?;
        }
        let writers = self.writers.take().unwrap_or_default();
        let alive: Vec<&Writer> = writers.iter().flatten().collect();
        let mut outcomes = drive::commit_all(&alive).into_iter();
        let committed: Vec<bool> =
            writers.iter().map(|writer| writer.is_some() && outcomes.next().is_some_and(|outcome| outcome.is_ok())).collect();
        let record = crate::multipart::PartRecord {
            number,
            size: self.size,
            etag: etag.clone(),
            file: file.clone(),
            modified_ms: set::now_ms(),
            checksums: self.options.checksums.clone(),
        };
        let record_path = crate::multipart::part_record_path(&upload_dir, number);
        let encoded = record.encode();
        let writes: Vec<(&Drive, String, Vec<u8>)> = self
            .set
            .drives
            .iter()
            .zip(&committed)
            .filter(|(_, committed)| **committed)
            .map(|(drive, _)| (drive, record_path.clone(), encoded.clone()))
            .collect();
        let written = drive::write_file_all(&writes).into_iter().filter(Result::is_ok).count();
        if written < self.set.layout.write_quorum() {
            for drive in &self.set.drives {
                let _ = drive.delete(&format!("{upload_dir}/{file}"), false);
            }
            return Err(ObjectError::InsufficientQuorum(format!("{written} drives stored part {number}")));
        }
        Ok(ObjectInfo {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            size: self.size,
            etag,
            modified_ms: record.modified_ms,
            content_type: None,
            user_metadata: Vec::new(),
            headers: Vec::new(),
            checksums: Vec::new(),
            tags: Vec::new(),
            version_id: String::new(),
            replication_status: None,
            replication_task: None,
        })
    }

    fn remove_data_dirs(&self) {
        Commit { set: &self.set, bucket: &self.bucket, key: &self.key, object_dir: &self.object_dir }.remove_data_dir(&self.data_dir);
    }
}

pub fn wit_replication_status(state: ReplicationState) -> crate::bindings::exports::tessera::node::objects::ReplicationStatus {
    use crate::bindings::exports::tessera::node::objects::ReplicationStatus;
    match state {
        ReplicationState::Pending => ReplicationStatus::Pending,
        ReplicationState::Completed => ReplicationStatus::Completed,
        ReplicationState::Failed => ReplicationStatus::Failed,
        ReplicationState::Replica => ReplicationStatus::Replica,
    }
}

/// What a commit made visible, and the replication task it queued.
pub struct Published {
    pub version: ObjectVersion,
    pub replication_task: Option<String>,
}

/// Makes a new version of one object visible: what a put and a multipart completion share.
pub struct Commit<'a> {
    pub set: &'a ErasureSet,
    pub bucket: &'a str,
    pub key: &'a str,
    pub object_dir: &'a str,
}

impl Commit<'_> {
    pub fn info(&self, version: ObjectVersion) -> ObjectInfo {
        crate::get::info(self.bucket, self.key, &version)
    }

    pub fn info_of(&self, published: Published) -> ObjectInfo {
        ObjectInfo { replication_task: published.replication_task, ..self.info(published.version) }
    }

    /// Replaces the metadata on every drive that holds its shards (`committed`, all drives at
    /// once), under the key's lock, then removes the data the previous version left behind.
    /// Fewer than a write quorum: the previous metadata goes back and the new data is removed.
    pub fn publish(
        &self,
        version: &ObjectVersion,
        inline_shards: Vec<Vec<u8>>,
        committed: &[bool],
        condition: Option<&WriteCondition>,
        replica: Option<&ReplicaSource>,
    ) -> Result<Published, ObjectError> {
        let undo = |error: ObjectError| {
            self.remove_data_dir(&version.data_dir);
            Err(error)
        };
        let meta_path = set::meta_path(self.object_dir);
        let mode = match versioning::mode(self.set, self.bucket) {
            Ok(mode) => mode,
            Err(error) => return undo(error),
        };
        // A replica keeps its source's id (versioned) and time, so that both sites list the
        // same versions and order them alike.
        let version = match replica {
            Some(source) if mode == Mode::Enabled => match versioning::replica_version_id(source, self.key, &version.etag) {
                Ok(version_id) => ObjectVersion { version_id, modified_ms: source.modified_ms, ..version.clone() },
                Err(error) => return undo(error),
            },
            Some(source) => {
                ObjectVersion { version_id: versioning::NULL_VERSION.into(), modified_ms: source.modified_ms, ..version.clone() }
            }
            None => match versioning::new_version_id(mode) {
                Ok(version_id) => ObjectVersion { version_id, ..version.clone() },
                Err(error) => return undo(error),
            },
        };
        // Commits on one key take turns: each drive then sees the same sequence of versions.
        let _lease = match lock::object(self.bucket, self.key) {
            Ok(lease) => lease,
            Err(error) => return undo(error),
        };
        if let Some(condition) = condition
            && let Err(error) = self.check(condition)
        {
            return undo(error);
        }
        // Each drive's current metadata: restored if this commit fails, and the base the new
        // version goes on top of (replacing the one with its id: "null" unless versioning).
        // A drive whose metadata cannot be read now (a fault, a format this build does not
        // know) is left out: writing it would drop the versions it holds. Metadata that rotted
        // counts as absent, as everywhere.
        let mut committed = committed.to_vec();
        let mut previous_metas: Vec<Option<Vec<u8>>> = vec![None; committed.len()];
        for position in 0..committed.len() {
            if !committed[position] {
                continue;
            }
            match self.set.drives[position].read_file(&meta_path, MAX_META_BYTES as u32) {
                Ok(bytes) if matches!(ObjectMeta::decode(&bytes), Err(meta::FormatError::UnknownFormat(_))) => committed[position] = false,
                Ok(bytes) => previous_metas[position] = Some(bytes),
                Err(DriveError::NotFound) => {}
                Err(_) => committed[position] = false,
            }
        }
        let mut version = version;
        let mut replication_task = None;
        if let Some(source) = replica {
            version.replication = Some(ReplicationState::Replica);
            let current = crate::get::read_metas(self.set, self.object_dir);
            let read_quorum = self.set.layout.read_quorum();
            if mode == Mode::Enabled {
                // The same version again (a retry, new tags) replaces it; another version
                // under the same id would rewrite history.
                if let Some(existing) = crate::get::agreed(&current, read_quorum, Some(&version.version_id))
                    && existing.modified_ms != version.modified_ms
                {
                    return undo(ObjectError::InvalidArgument(format!(
                        "version {} of {}/{} exists with another time",
                        source.version_id, self.bucket, self.key
                    )));
                }
            } else if let Some(current) = crate::get::agreed_version(&current, read_quorum)
                // Unversioned, a replica only replaces an older object: the newer one is
                // already here, and its own replication reaches the other site.
                && replication::newer(
                    (current.modified_ms, &current.version_id, &current.etag),
                    (version.modified_ms, &version.version_id, &version.etag),
                )
            {
                let current = current.clone();
                self.remove_data_dir(&version.data_dir);
                return Ok(Published { version: current, replication_task: None });
            }
        } else {
            // A write is the newest version of its key, by time too: a replica from a site
            // whose clock runs ahead may hold a later time, and both sites must agree on
            // which version is latest (replicas are placed by time).
            let newest = previous_metas
                .iter()
                .flatten()
                .filter_map(|bytes| ObjectMeta::decode(bytes).ok())
                .flat_map(|meta| meta.versions.into_iter().map(|old| old.modified_ms))
                .max();
            if let Some(newest) = newest
                && version.modified_ms <= newest
            {
                version.modified_ms = newest + 1;
            }
            match replication::queue_if_replicated(
                self.set,
                self.bucket,
                self.key,
                &version.version_id,
                version.modified_ms,
                &version.tags,
                false,
            ) {
                Ok(Some(task)) => {
                    version.replication = Some(ReplicationState::Pending);
                    replication_task = Some(task);
                }
                Ok(None) => {}
                Err(error) => return undo(error),
            }
        }
        let mut freed: Vec<Vec<String>> = vec![Vec::new(); committed.len()];
        let mut encoded: Vec<(usize, Vec<u8>)> = Vec::new();
        for (position, inline_shard) in inline_shards.into_iter().enumerate().filter(|(position, _)| committed[*position]) {
            let previous = previous_metas[position].as_deref().and_then(|bytes| ObjectMeta::decode(bytes).ok());
            let copy = ObjectVersion { shard_index: version.distribution[position], inline_shard, ..version.clone() };
            let (meta, dropped) = versioning::add_version(previous, copy, replica.is_some());
            let bytes = meta.encode();
            if bytes.len() > MAX_META_BYTES {
                self.remove_data_dir(&version.data_dir);
                return Err(ObjectError::InvalidArgument(format!("{}/{} has too many versions to add one", self.bucket, self.key)));
            }
            freed[position] = dropped;
            encoded.push((position, bytes));
        }
        let positions: Vec<usize> = encoded.iter().map(|(position, _)| *position).collect();
        let writes: Vec<(&Drive, String, Vec<u8>)> =
            encoded.into_iter().map(|(position, bytes)| (&self.set.drives[position], meta_path.clone(), bytes)).collect();
        let outcomes = drive::write_file_all(&writes);
        let mut results: Vec<Result<(), DriveError>> = vec![Err(DriveError::Faulty("shard not committed".into())); committed.len()];
        for (position, outcome) in positions.into_iter().zip(outcomes) {
            results[position] = outcome;
        }
        if let Err(error) = ErasureSet::require(&results, self.set.layout.write_quorum(), "write metadata") {
            self.remove_data_dir(&version.data_dir);
            self.roll_back_metadata(&results, previous_metas);
            return Err(error);
        }
        for (position, data_dirs) in freed.into_iter().enumerate() {
            if results[position].is_ok() {
                for data_dir in data_dirs {
                    // Best effort: a leftover data directory is garbage, never a wrong answer.
                    let _ = self.set.drives[position].delete(&set::data_dir_path(self.object_dir, &data_dir), true);
                }
            }
        }
        Ok(Published { version, replication_task })
    }

    /// Puts back what a commit that missed its quorum replaced, so that the failed put leaves
    /// nothing visible: fewer drives than a write quorum may still be a read quorum.
    fn roll_back_metadata(&self, results: &[Result<(), DriveError>], previous_metas: Vec<Option<Vec<u8>>>) {
        let meta_path = set::meta_path(self.object_dir);
        for ((drive, result), previous) in self.set.drives.iter().zip(results).zip(previous_metas) {
            if result.is_err() {
                continue;
            }
            let _ = match previous {
                Some(bytes) => drive.write_file(&meta_path, &bytes),
                None => drive.delete(&meta_path, false).and_then(|()| drive.prune_empty_dirs(self.object_dir, self.bucket)),
            };
        }
    }

    /// A conditional write's condition, against the version a read quorum agrees on now.
    fn check(&self, condition: &WriteCondition) -> Result<(), ObjectError> {
        let metas = crate::get::read_metas(self.set, self.object_dir);
        let current =
            crate::get::agreed_version(&metas, self.set.layout.read_quorum()).filter(|version| version.kind == VersionKind::Object);
        match (condition, current) {
            (WriteCondition::IfNoneMatchAny, None) => Ok(()),
            (WriteCondition::IfNoneMatchAny, Some(_)) => Err(ObjectError::PreconditionFailed),
            (WriteCondition::IfMatch(etag), Some(current)) if current.etag == *etag => Ok(()),
            (WriteCondition::IfMatch(_), Some(_)) => Err(ObjectError::PreconditionFailed),
            (WriteCondition::IfMatch(_), None) => Err(ObjectError::NoSuchKey),
        }
    }

    /// Removes a data directory that never became visible (empty: an inline version, none).
    pub fn remove_data_dir(&self, data_dir: &str) {
        if data_dir.is_empty() {
            return;
        }
        let path = set::data_dir_path(self.object_dir, data_dir);
        for drive in &self.set.drives {
            let _ = drive.delete(&path, true).and_then(|()| drive.prune_empty_dirs(self.object_dir, self.bucket));
        }
    }
}

/// Cuts `block` into shards, adds parity, and returns for each drive position its shard record:
/// the bitrot hash followed by the shard.
pub fn encode_block(set: &ErasureSet, distribution: &[u8], block: &[u8]) -> Result<Vec<Vec<u8>>, ObjectError> {
    let layout = set.layout;
    let shard_bytes = shards::shard_bytes(block.len(), layout.data);
    let parity = if layout.parity == 0 {
        Vec::new()
    } else {
        erasure::encode(layout.data as u32, layout.parity as u32, block)
            .map_err(|error| ObjectError::Internal(format!("erasure encode: {error:?}")))?
    };
    let records = distribution
        .iter()
        .map(|shard_index| {
            let shard_index = usize::from(*shard_index);
            let mut record = Vec::with_capacity(bitrot::HASH_BYTES + shard_bytes);
            record.extend_from_slice(&[0u8; bitrot::HASH_BYTES]);
            if shard_index < layout.data {
                record.extend_from_slice(&shards::data_shard(block, shard_index, shard_bytes));
            } else {
                record.extend_from_slice(&parity[shard_index - layout.data]);
            }
            let hash = bitrot::hash(&record[bitrot::HASH_BYTES..]);
            record[..bitrot::HASH_BYTES].copy_from_slice(&hash);
            record
        })
        .collect();
    Ok(records)
}

fn open_writers(set: &ErasureSet, path: &str) -> Result<Vec<Option<Writer>>, ObjectError> {
    let writers: Vec<Option<Writer>> = set.drives.iter().map(|drive| drive.create_file(path).ok()).collect();
    require_alive(&writers, set.layout.write_quorum())?;
    Ok(writers)
}

fn require_alive(writers: &[Option<Writer>], quorum: usize) -> Result<(), ObjectError> {
    let alive = writers.iter().filter(|writer| writer.is_some()).count();
    if alive < quorum {
        return Err(ObjectError::InsufficientQuorum(format!("{alive} drives writable, {quorum} needed")));
    }
    Ok(())
}

/// Who asks for a delete; it decides whether the delete is replicated.
pub enum DeleteOrigin<'a> {
    /// A client: replicated when the bucket's rules take it.
    Client,
    /// A lifecycle rule: each site applies its own (as S3, expirations are not replicated).
    Lifecycle,
    /// Another site's replication: a delete marker with the source's id and time, or (not
    /// versioned) the removal of the object unless it is newer than the delete.
    Replica(&'a ReplicaSource),
}

/// Deletes an object (see `objects.delete`): under the key's lock, each drive's metadata is
/// read, changed and written back; data no version points to any more goes last. Fewer than a
/// write quorum of drives changed: the others are put back.
pub fn delete(
    set: &ErasureSet,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    origin: DeleteOrigin,
) -> Result<DeleteResult, ObjectError> {
    key_to_path(key)?;
    buckets::head(set, bucket)?;
    let _lease = lock::object(bucket, key)?;
    delete_locked(set, bucket, key, version_id, origin)
}

/// `delete` for a caller that holds the key's lock (lifecycle decides and deletes under one).
pub fn delete_locked(
    set: &ErasureSet,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    origin: DeleteOrigin,
) -> Result<DeleteResult, ObjectError> {
    let key_path = key_to_path(key)?;
    let mode = versioning::mode(set, bucket)?;
    let object_dir = set::object_dir(bucket, &key_path);
    let meta_path = set::meta_path(&object_dir);
    let mut marker = match (version_id, mode, &origin) {
        (None, Mode::Enabled | Mode::Suspended, DeleteOrigin::Replica(source)) => {
            // Versioned, the marker keeps the source's id; suspended, it is the "null" version.
            let id = match mode {
                Mode::Enabled => versioning::replica_version_id(source, key, "delete")?,
                _ => versioning::NULL_VERSION.into(),
            };
            Some(ObjectVersion {
                modified_ms: source.modified_ms,
                replication: Some(ReplicationState::Replica),
                ..delete_marker(set, key, id)
            })
        }
        (None, Mode::Enabled | Mode::Suspended, _) => Some(delete_marker(set, key, versioning::new_version_id(mode)?)),
        _ => None,
    };
    if let (None, DeleteOrigin::Replica(source)) = (version_id, &origin)
        && mode != Mode::Enabled
    {
        // Not versioned (or suspended: the marker replaces the "null" version), a replicated
        // delete only removes what is older than it; a newer write stays, and its own
        // replication reaches the other site.
        let metas = crate::get::read_metas(set, &object_dir);
        let current = match mode {
            Mode::Suspended => crate::get::agreed(&metas, set.layout.read_quorum(), Some(versioning::NULL_VERSION)),
            _ => crate::get::agreed_version(&metas, set.layout.read_quorum()),
        };
        if let Some(current) = current
            && replication::newer(
                (current.modified_ms, &current.version_id, &current.etag),
                (source.modified_ms, versioning::NULL_VERSION, ""),
            )
        {
            return Ok(DeleteResult { version_id: None, delete_marker: false, replication_task: None });
        }
    }
    if let (Some(marker), DeleteOrigin::Client | DeleteOrigin::Lifecycle) = (&mut marker, &origin) {
        // As a write: the newest version of its key by time too (see `Commit::publish`).
        let metas = crate::get::read_metas(set, &object_dir);
        let newest = metas.iter().filter_map(|meta| meta.meta()).flat_map(|meta| meta.versions.iter().map(|old| old.modified_ms)).max();
        if let Some(newest) = newest
            && marker.modified_ms <= newest
        {
            marker.modified_ms = newest + 1;
        }
    }
    let mut replication_task = None;
    if let (None, DeleteOrigin::Client) = (version_id, &origin) {
        let (id, modified_ms) = match &marker {
            Some(marker) => (marker.version_id.clone(), marker.modified_ms),
            None => (versioning::NULL_VERSION.to_owned(), set::now_ms()),
        };
        replication_task = replication::queue_if_replicated(set, bucket, key, &id, modified_ms, &[], true)?;
        if let (Some(_), Some(marker)) = (&replication_task, &mut marker) {
            marker.replication = Some(ReplicationState::Pending);
        }
    }
    let in_order = matches!(origin, DeleteOrigin::Replica(_));
    let mut removed_marker = false;
    let mut previous: Vec<Option<Vec<u8>>> = Vec::new();
    let results = set.each(|drive| {
        let bytes = match drive.read_file(&meta_path, MAX_META_BYTES as u32) {
            Ok(bytes) => Some(bytes),
            Err(DriveError::NotFound) => None,
            Err(error) => {
                previous.push(None);
                return Err(error);
            }
        };
        let old = bytes.as_deref().and_then(|bytes| ObjectMeta::decode(bytes).ok());
        previous.push(bytes);
        let position = previous.len() - 1;
        let (kept, freed) = match (&marker, version_id) {
            (Some(marker), _) => {
                let (meta, freed) =
                    versioning::add_version(old, ObjectVersion { shard_index: marker.distribution[position], ..marker.clone() }, in_order);
                (Some(meta), freed)
            }
            (None, Some(id)) => {
                let Some(mut meta) = old else { return Ok(()) };
                let Some(index) = meta.versions.iter().position(|version| version.version_id == id) else { return Ok(()) };
                let gone = meta.versions.remove(index);
                removed_marker |= gone.kind == VersionKind::DeleteMarker;
                let freed = if gone.data_dir.is_empty() { Vec::new() } else { vec![gone.data_dir] };
                (Some(meta).filter(|meta| !meta.versions.is_empty()), freed)
            }
            // Unversioned: the object goes with all it has.
            (None, None) => {
                let freed =
                    old.map(|meta| meta.versions.into_iter().map(|version| version.data_dir).filter(|dir| !dir.is_empty()).collect());
                (None, freed.unwrap_or_default())
            }
        };
        match kept {
            Some(meta) => drive.write_file(&meta_path, &meta.encode())?,
            None if previous[position].is_some() => drive.delete(&meta_path, false)?,
            None => {}
        }
        for data_dir in freed {
            drive.delete(&set::data_dir_path(&object_dir, &data_dir), true)?;
        }
        drive.prune_empty_dirs(&object_dir, bucket)
    });
    if let Err(error) = ErasureSet::require(&results, set.layout.write_quorum(), "delete object") {
        // Put back the metadata the drives that did change had (their data may be gone: a
        // heal rebuilds it from the drives that did not change).
        for ((drive, result), bytes) in set.drives.iter().zip(&results).zip(previous) {
            if let (Ok(()), Some(bytes)) = (result, bytes) {
                let _ = drive.write_file(&meta_path, &bytes);
            }
        }
        return Err(error);
    }
    Ok(match (marker, version_id) {
        (Some(marker), _) => DeleteResult { version_id: Some(marker.version_id), delete_marker: true, replication_task },
        (None, Some(id)) => DeleteResult { version_id: Some(id.to_owned()), delete_marker: removed_marker, replication_task },
        (None, None) => DeleteResult { version_id: None, delete_marker: false, replication_task },
    })
}

/// A delete marker: a version with no data that hides the ones below it.
fn delete_marker(set: &ErasureSet, key: &str, version_id: String) -> ObjectVersion {
    ObjectVersion {
        version_id,
        kind: VersionKind::DeleteMarker,
        modified_ms: set::now_ms(),
        size: 0,
        etag: String::new(),
        content_type: None,
        user_metadata: Vec::new(),
        headers: Vec::new(),
        checksums: Vec::new(),
        tags: Vec::new(),
        replication: None,
        data_count: set.layout.data as u8,
        parity_count: set.layout.parity as u8,
        block_bytes: BLOCK_BYTES as u32,
        distribution: distribution(key, set.layout.drive_count()),
        shard_index: 0,
        data_dir: String::new(),
        inline_shard: Vec::new(),
        parts: Vec::new(),
    }
}
