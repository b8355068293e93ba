//! Healing: make every online drive hold a sound copy of what a read quorum agrees on.
//!
//! For one object, under its key lock:
//! - the version a read quorum agrees on is the truth; a drive with no metadata, corrupt
//!   metadata or another version gets the agreed one, and a drive whose shard file is missing or
//!   has the wrong size (or, in a deep heal, fails a bitrot hash) gets its shard rebuilt from the
//!   others: shard file first (temp, fsync, rename), metadata last, as a put does;
//! - copies on fewer drives than a read quorum while a write quorum of drives has none are
//!   leftovers of a write that never completed or a delete a drive missed: removed;
//! - data directories no metadata points to, older than a grace period (a write in progress has
//!   committed its shards but not yet its metadata), are removed.
//!
//! Buckets are healed the same way: `.bucket` restored where a read quorum has it.

use crate::bindings::exports::tessera::node::maintenance::{HealCursor, HealOptions, HealProgress};
use crate::bindings::tessera::node::drive::{self, Drive, DriveError, Writer};
use crate::buckets;
use crate::error::ObjectError;
use crate::get::{self, Found, MetaRead};
use crate::heal_queue;
use crate::lifecycle;
use crate::list;
use crate::lock;
use crate::meta::{ObjectMeta, ObjectVersion, VersionKind};
use crate::multipart;
use crate::names::key_to_path;
use crate::set::{self, ErasureSet, META_FILE};
use crate::shard_io::{self, ShardSet};

/// A data directory nothing points to is garbage once it is this old; younger, it may belong
/// to a write that is about to commit its metadata.
const ORPHAN_GRACE_MS: u64 = 10 * 60 * 1000;
/// Each drive's temp area (`wit/drive.wit`: writers stream there until they commit).
const TEMP_DIR: &str = ".tessera/tmp";
/// A temp file this old belongs to a write that died (a crash, a killed instance): no upload
/// streams for a day. The native host empties temp at start; other hosts rely on this.
const STALE_TEMP_MS: u64 = 24 * 60 * 60 * 1000;

/// Removes temp files older than a day from every drive; how many.
fn sweep_stale_temp(set: &ErasureSet) -> usize {
    let now = set::now_ms();
    let mut removed = 0;
    for drive in &set.drives {
        let Ok(entries) = drive.list_dir(TEMP_DIR) else { continue };
        for entry in entries {
            let path = format!("{TEMP_DIR}/{}", entry.name);
            let stale = drive.stat(&path).is_ok_and(|info| now.saturating_sub(info.modified_ms) >= STALE_TEMP_MS);
            if stale && drive.delete(&path, true).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// What healing one object did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The name is only a directory on the way to other keys.
    NotAnObject,
    Healthy,
    /// Drive positions repaired.
    Healed(Vec<usize>),
    DanglingRemoved,
    Unrecoverable(String),
}

/// Totals of a heal step.
#[derive(Default)]
pub struct Tally {
    progress: HealProgress,
}

impl Tally {
    fn new() -> Self {
        Self {
            progress: HealProgress {
                scanned: 0,
                healed: 0,
                dangling_removed: 0,
                unrecoverable: 0,
                expired: 0,
                details: Vec::new(),
                next: None,
            },
        }
    }

    fn add(&mut self, bucket: &str, key: &str, outcome: &Outcome) {
        let progress = &mut self.progress;
        if *outcome != Outcome::NotAnObject {
            progress.scanned += 1;
        }
        match outcome {
            Outcome::NotAnObject | Outcome::Healthy => {}
            Outcome::Healed(positions) => {
                progress.healed += 1;
                let drives: Vec<String> = positions.iter().map(|position| (position + 1).to_string()).collect();
                progress.details.push(format!("healed {bucket}/{key} on drive {}", drives.join(", ")));
            }
            Outcome::DanglingRemoved => {
                progress.dangling_removed += 1;
                progress.details.push(format!("removed dangling {bucket}/{key}"));
            }
            Outcome::Unrecoverable(why) => {
                progress.unrecoverable += 1;
                progress.details.push(format!("UNRECOVERABLE {bucket}/{key}: {why}"));
            }
        }
    }
}

impl Default for HealProgress {
    fn default() -> Self {
        Tally::new().progress
    }
}

/// Heals up to `max_objects` names from `cursor` on.
pub fn step(set: &ErasureSet, options: &HealOptions, cursor: Option<HealCursor>, max_objects: u32) -> Result<HealProgress, ObjectError> {
    let max_objects = max_objects.clamp(1, 10_000) as usize;
    let mut buckets: Vec<String> = match &options.bucket {
        Some(bucket) => {
            buckets::head(set, bucket)?;
            vec![bucket.clone()]
        }
        None => buckets::list(set)?.into_iter().map(|bucket| bucket.name).collect(),
    };
    let mut tally = Tally::new();
    if cursor.is_none() {
        // A pass starts by dropping multipart uploads abandoned for longer than allowed.
        let expired = multipart::expire(set, multipart_expiry_ms());
        if expired > 0 {
            tally.progress.details.push(format!("removed {expired} abandoned multipart uploads"));
        }
        let swept = sweep_stale_temp(set);
        if swept > 0 {
            tally.progress.details.push(format!("removed {swept} stale temp files"));
        }
    }
    let cursor = cursor.unwrap_or(HealCursor { bucket: String::new(), key: String::new() });
    buckets.retain(|bucket| *bucket >= cursor.bucket);
    let mut budget = max_objects;
    for bucket in buckets {
        let after = if bucket == cursor.bucket { cursor.key.clone() } else { String::new() };
        let rules = lifecycle::get(set, &bucket)?.unwrap_or_default();
        if after.is_empty() {
            heal_bucket(set, &bucket);
            let aborted = lifecycle::abort_uploads(set, &bucket, &rules);
            if aborted > 0 {
                tally.progress.expired += aborted;
                tally.progress.details.push(format!("lifecycle aborted {aborted} multipart uploads in {bucket}"));
            }
        }
        let (keys, truncated) = list::names(set, &bucket, &after, budget)?;
        for key in &keys {
            let outcome = object(set, &bucket, key, options.deep)?;
            tally.add(&bucket, key, &outcome);
            // Healed first, so that what the rules remove is removed from every drive. A key
            // that did not heal is left alone: its versions are not known for sure.
            if !rules.is_empty() && matches!(outcome, Outcome::Healthy | Outcome::Healed(_)) {
                let expired = lifecycle::apply(set, &bucket, key, &rules)?;
                if expired > 0 {
                    tally.progress.expired += expired;
                    tally.progress.details.push(format!("lifecycle expired {expired} of {bucket}/{key}"));
                }
            }
        }
        budget -= keys.len();
        if truncated || budget == 0 {
            let key = keys.last().cloned().unwrap_or(after);
            tally.progress.next = Some(HealCursor { bucket, key });
            return Ok(tally.progress);
        }
    }
    Ok(tally.progress)
}

/// How old an unfinished multipart upload may get: `TESSERA_MULTIPART_EXPIRY` seconds,
/// 24 hours when unset.
fn multipart_expiry_ms() -> u64 {
    std::env::var("TESSERA_MULTIPART_EXPIRY").ok().and_then(|seconds| seconds.parse::<u64>().ok()).unwrap_or(24 * 3600).saturating_mul(1000)
}

/// Heals what reads queued as damaged (deeply: a flipped byte leaves a file's size alone).
pub fn queued(set: &ErasureSet, max_objects: u32) -> Result<HealProgress, ObjectError> {
    let mut tally = Tally::new();
    for (bucket, key) in heal_queue::peek(set, max_objects.clamp(1, 10_000) as usize) {
        let outcome = match object(set, &bucket, &key, true) {
            Ok(outcome) => outcome,
            // The bucket or key is gone, or its name is not ours: nothing left to heal.
            Err(ObjectError::NoSuchBucket | ObjectError::InvalidKey(_) | ObjectError::KeyTooLong) => Outcome::NotAnObject,
            Err(error) => return Err(error),
        };
        tally.add(&bucket, &key, &outcome);
        heal_queue::remove(set, &bucket, &key);
    }
    Ok(tally.progress)
}

/// Restores `.bucket` on drives that lost it while a read quorum has it.
fn heal_bucket(set: &ErasureSet, bucket: &str) {
    let path = format!("{bucket}/{}", buckets::BUCKET_FILE);
    let reads = set.each(|drive| drive.read_file(&path, buckets::MAX_BUCKET_FILE_BYTES));
    let Some(content) = reads.iter().find_map(|read| read.as_ref().ok()).cloned() else {
        return;
    };
    if reads.iter().filter(|read| read.is_ok()).count() < set.layout.read_quorum() {
        return;
    }
    for (drive, read) in set.drives.iter().zip(&reads) {
        if matches!(read, Err(DriveError::NotFound)) {
            let _ = drive.make_dir(bucket).and_then(|()| drive.write_file(&path, &content));
        }
    }
}

/// Heals one object (or name): see the module documentation.
pub fn object(set: &ErasureSet, bucket: &str, key: &str, deep: bool) -> Result<Outcome, ObjectError> {
    let object_dir = set::object_dir(bucket, &key_to_path(key)?);
    let _lease = lock::object(bucket, key)?;
    let metas = get::read_metas(set, &object_dir);
    let agreed = get::agreed_versions(&metas, set.layout.read_quorum());
    let outcome =
        if agreed.is_empty() { settle_unagreed(set, &object_dir, &metas) } else { repair(set, &object_dir, &metas, &agreed, deep)? };
    remove_orphans(set, bucket, &object_dir);
    Ok(outcome)
}

/// No version has a read quorum: a leftover to remove, or damage beyond repair.
fn settle_unagreed(set: &ErasureSet, object_dir: &str, metas: &[MetaRead]) -> Outcome {
    let present = metas.iter().filter(|meta| matches!(meta, MetaRead::Present(_))).count();
    let corrupt = metas.iter().filter(|meta| matches!(meta, MetaRead::Corrupt)).count();
    let missing = metas.iter().filter(|meta| matches!(meta, MetaRead::Missing)).count();
    let offline = metas.len() - present - corrupt - missing;
    if present == 0 && corrupt == 0 {
        return Outcome::NotAnObject;
    }
    if present == 0 {
        // Every copy of the metadata rotted: nothing says what the shards are. Left in place
        // for an operator; the key reads as missing and can be written again.
        return Outcome::Unrecoverable(format!("metadata corrupt on {corrupt} drives and missing on the rest"));
    }
    if missing + corrupt >= set.layout.write_quorum() {
        let meta_path = set::meta_path(object_dir);
        for (drive, meta) in set.drives.iter().zip(metas) {
            if let MetaRead::Present(meta) = meta {
                let _ = drive.delete(&meta_path, false);
                for version in meta.versions.iter().filter(|version| !version.data_dir.is_empty()) {
                    let _ = drive.delete(&set::data_dir_path(object_dir, &version.data_dir), true);
                }
            } else if matches!(meta, MetaRead::Corrupt) {
                let _ = drive.delete(&meta_path, false);
            }
        }
        return Outcome::DanglingRemoved;
    }
    Outcome::Unrecoverable(format!(
        "no version agreed by {} drives ({present} hold one, {corrupt} corrupt, {missing} missing, {offline} offline)",
        set.layout.read_quorum()
    ))
}

/// A version some drive holds that no read quorum agrees on, while too few drives lack it to
/// call it a leftover: healing cannot tell whether it was committed, so it changes nothing.
fn undecided_version(set: &ErasureSet, metas: &[MetaRead], agreed: &[ObjectVersion]) -> Option<String> {
    let held = metas.iter().filter_map(MetaRead::meta).flat_map(|meta| &meta.versions);
    for version in held.filter(|version| !agreed.iter().any(|known| known.agrees_with(version))) {
        let lacking = metas
            .iter()
            .filter(|meta| match meta {
                MetaRead::Missing | MetaRead::Corrupt => true,
                MetaRead::Present(other) => !other.versions.iter().any(|copy| copy.agrees_with(version)),
                MetaRead::Offline => false,
            })
            .count();
        if lacking < set.layout.write_quorum() {
            return Some(version.version_id.clone());
        }
    }
    None
}

/// Brings every online drive to the agreed versions: each version's shards rebuilt where they
/// are missing or unsound, then each drive's metadata rewritten where it differs (versions no
/// quorum holds are dropped, and their data with them).
fn repair(set: &ErasureSet, object_dir: &str, metas: &[MetaRead], agreed: &[ObjectVersion], deep: bool) -> Result<Outcome, ObjectError> {
    if let Some(version_id) = undecided_version(set, metas, agreed) {
        return Ok(Outcome::Unrecoverable(format!("version {version_id} is on too few drives to keep and too many to drop")));
    }
    // By version, by drive position: the inline shard that drive's copy carries, once sound.
    let mut ready: Vec<Vec<Option<Vec<u8>>>> = Vec::new();
    for version in agreed {
        match repair_version(set, object_dir, metas, version, deep)? {
            Ok(positions) => ready.push(positions),
            Err(why) => return Ok(Outcome::Unrecoverable(format!("version {}: {why}", version.version_id))),
        }
    }
    let meta_path = set::meta_path(object_dir);
    let mut writes: Vec<(usize, ObjectMeta)> = Vec::new();
    for (position, meta) in metas.iter().enumerate() {
        if matches!(meta, MetaRead::Offline) {
            continue;
        }
        let versions: Option<Vec<ObjectVersion>> = agreed
            .iter()
            .zip(&ready)
            .map(|(version, ready)| {
                let inline_shard = ready[position].clone()?;
                Some(ObjectVersion { shard_index: version.distribution[position], inline_shard, ..version.clone() })
            })
            .collect();
        // A drive that could not take every version keeps what it has until the next heal.
        let Some(versions) = versions else { continue };
        let desired = ObjectMeta { versions };
        if meta.meta() != Some(&desired) {
            writes.push((position, desired));
        }
    }
    if writes.is_empty() {
        return Ok(Outcome::Healthy);
    }
    let encoded: Vec<(&Drive, String, Vec<u8>)> =
        writes.iter().map(|(position, meta)| (&set.drives[*position], meta_path.clone(), meta.encode())).collect();
    let mut healed = Vec::new();
    for ((position, desired), outcome) in writes.iter().zip(drive::write_file_all(&encoded)) {
        if outcome.is_err() {
            continue;
        }
        healed.push(*position);
        // Data of versions this drive held and no longer does is garbage now.
        if let MetaRead::Present(old) = &metas[*position] {
            for stale in old.versions.iter().filter(|old| !old.data_dir.is_empty()) {
                if !desired.versions.iter().any(|version| version.data_dir == stale.data_dir) {
                    let _ = set.drives[*position].delete(&set::data_dir_path(object_dir, &stale.data_dir), true);
                }
            }
        }
    }
    if healed.is_empty() {
        return Ok(Outcome::Unrecoverable(format!(
            "no drive took the repair (drives {:?})",
            writes.iter().map(|(p, _)| *p).collect::<Vec<_>>()
        )));
    }
    Ok(Outcome::Healed(healed))
}

/// By drive position, the inline shard a sound copy of a version carries (`None`: no sound
/// copy there); `Err` with why the version cannot be rebuilt.
type Readiness = Result<Vec<Option<Vec<u8>>>, String>;

/// Makes one version sound wherever it can: by drive position, the inline shard that drive's
/// copy carries (empty for shard files and delete markers) once its copy is sound or rebuilt;
/// `None` where it is neither. `Err` with the reason when too few shards are left to rebuild.
fn repair_version(
    set: &ErasureSet,
    object_dir: &str,
    metas: &[MetaRead],
    version: &ObjectVersion,
    deep: bool,
) -> Result<Readiness, ObjectError> {
    let copies: Vec<Option<&ObjectVersion>> = metas
        .iter()
        .map(|meta| meta.meta().and_then(|meta| meta.version(&version.version_id)).filter(|copy| copy.agrees_with(version)))
        .collect();
    if version.kind == VersionKind::DeleteMarker {
        return Ok(Ok(metas.iter().map(|meta| (!matches!(meta, MetaRead::Offline)).then(Vec::new)).collect()));
    }
    let mut ready: Vec<Option<Vec<u8>>> = vec![None; metas.len()];
    let mut targets = Vec::new();
    for (position, meta) in metas.iter().enumerate() {
        let sound = match (meta, copies[position]) {
            (MetaRead::Offline, _) => continue,
            (_, None) => false,
            (_, Some(copy)) if copy.data_dir.is_empty() => {
                copy.inline_shard.len() as u64 == shard_io::shard_data_bytes(version, version.size)
            }
            (_, Some(copy)) => match shard_files_sound(&set.drives[position], object_dir, copy) {
                Some(sound) => sound,
                // The drive fails: it cannot be healed now.
                None => continue,
            },
        };
        if sound {
            ready[position] = copies[position].map(|copy| copy.inline_shard.clone());
        } else {
            targets.push(position);
        }
    }
    let found =
        Found { agreeing: copies.iter().map(|copy| copy.cloned()).collect(), version: version.clone(), object_dir: object_dir.to_owned() };
    if deep {
        let mut opened = ShardSet::open(set, &found, |position| !targets.contains(&position));
        let shard_count = version.distribution.len();
        for (part, file) in version.part_files().iter().enumerate() {
            for block in 0..shard_io::block_count(version, file.size) {
                // A block with too few sound shards is reported by the rebuild below.
                let _ = opened.read_block(set, &found, part, block, shard_count);
            }
        }
        for position in opened.failed_positions() {
            ready[*position] = None;
            targets.push(*position);
        }
        targets.sort_unstable();
        targets.dedup();
    }
    if targets.is_empty() {
        return Ok(Ok(ready));
    }
    let mut sources = ShardSet::open(set, &found, |position| !targets.contains(&position));
    if sources.available() < usize::from(version.data_count) {
        return Ok(Err(format!("{} sound shards, {} needed", sources.available(), version.data_count)));
    }
    match rebuild(set, &found, &targets, &mut sources) {
        Ok(rebuilt) => {
            for (position, inline_shard) in rebuilt {
                ready[position] = Some(inline_shard);
            }
            Ok(Ok(ready))
        }
        Err(ObjectError::InsufficientQuorum(why)) => Ok(Err(why)),
        Err(error) => Err(error),
    }
}

/// Rebuilds the shards of `targets` from `sources`: into shard files (committed part by part)
/// or, for an inline object, into the bytes each target's metadata will carry. Returns the
/// targets that got every part, with their inline bytes (empty for shard files).
fn rebuild(set: &ErasureSet, found: &Found, targets: &[usize], sources: &mut ShardSet) -> Result<Vec<(usize, Vec<u8>)>, ObjectError> {
    let version = &found.version;
    let data = usize::from(version.data_count);
    if version.data_dir.is_empty() {
        let mut inline: Vec<Vec<u8>> = vec![Vec::new(); targets.len()];
        for block in 0..shard_io::block_count(version, version.size) {
            let mut shards = sources.read_block(set, found, 0, block, data)?;
            sources.complete(0, block, &mut shards)?;
            for (bytes, position) in inline.iter_mut().zip(targets) {
                let shard = shards[usize::from(version.distribution[*position])].as_deref().unwrap_or_default();
                bytes.extend_from_slice(&shard_io::record(shard));
            }
        }
        return Ok(targets.iter().copied().zip(inline).collect());
    }
    let data_dir = set::data_dir_path(&found.object_dir, &version.data_dir);
    let mut healthy: Vec<usize> = targets.to_vec();
    for (part, file) in version.part_files().iter().enumerate() {
        let path = format!("{data_dir}/{}", file.name);
        let mut writers: Vec<(usize, Option<Writer>)> =
            healthy.iter().map(|position| (*position, set.drives[*position].create_file(&path).ok())).collect();
        for block in 0..shard_io::block_count(version, file.size) {
            let mut shards = sources.read_block(set, found, part, block, data)?;
            sources.complete(part, block, &mut shards)?;
            for (position, writer) in writers.iter_mut() {
                let shard = shards[usize::from(version.distribution[*position])].as_deref().unwrap_or_default();
                if writer.as_ref().is_some_and(|file| file.append(&shard_io::record(shard)).is_err()) {
                    *writer = None;
                }
            }
        }
        let alive: Vec<(usize, Writer)> = writers.into_iter().filter_map(|(position, writer)| Some((position, writer?))).collect();
        let borrowed: Vec<&Writer> = alive.iter().map(|(_, writer)| writer).collect();
        let outcomes = drive::commit_all(&borrowed);
        healthy = alive.iter().zip(outcomes).filter(|(_, outcome)| outcome.is_ok()).map(|((position, _), _)| *position).collect();
    }
    Ok(healthy.into_iter().map(|position| (position, Vec::new())).collect())
}

/// Whether a drive has every shard file of `copy` at its exact size; `None` when it fails.
fn shard_files_sound(drive: &Drive, object_dir: &str, copy: &ObjectVersion) -> Option<bool> {
    let data_dir = set::data_dir_path(object_dir, &copy.data_dir);
    for file in copy.part_files() {
        match drive.stat(&format!("{data_dir}/{}", file.name)) {
            Ok(info) if info.size == shard_io::shard_data_bytes(copy, file.size) => {}
            Ok(_) | Err(DriveError::NotFound) => return Some(false),
            Err(_) => return None,
        }
    }
    Some(true)
}

/// Removes data directories that no metadata on their drive points to, once past the grace.
fn remove_orphans(set: &ErasureSet, bucket: &str, object_dir: &str) {
    let now = set::now_ms();
    let meta_path = set::meta_path(object_dir);
    for drive in &set.drives {
        let Ok(entries) = drive.list_dir(object_dir) else {
            continue;
        };
        let data_dirs: Vec<String> = entries
            .into_iter()
            .filter(|entry| entry.is_dir && entry.name.starts_with('.') && entry.name != META_FILE)
            .map(|entry| entry.name)
            .collect();
        if data_dirs.is_empty() {
            continue;
        }
        let referenced = match drive.read_file(&meta_path, crate::meta::MAX_META_BYTES as u32) {
            Ok(bytes) => match ObjectMeta::decode(&bytes) {
                Ok(meta) => meta.versions.into_iter().map(|version| format!(".{}", version.data_dir)).collect(),
                // Unreadable metadata: keep everything, an operator may want it.
                Err(_) => continue,
            },
            Err(DriveError::NotFound) => Vec::new(),
            Err(_) => continue,
        };
        let mut removed = false;
        for name in data_dirs.into_iter().filter(|name| !referenced.contains(name)) {
            let path = format!("{object_dir}/{name}");
            let old_enough = drive.stat(&path).is_ok_and(|info| now.saturating_sub(info.modified_ms) >= ORPHAN_GRACE_MS);
            if old_enough {
                removed |= drive.delete(&path, true).is_ok();
            }
        }
        if removed {
            let _ = drive.prune_empty_dirs(object_dir, bucket);
        }
    }
}
