//! Replication, the object layer's half: which writes the bucket's rules take, the queue of
//! tasks on the drives, and each version's replication state. The `replication` component
//! sends the tasks; it reaches all of this through `objects`.
//!
//! A task is queued *before* the commit it replicates (under the key's lock), so a crash never
//! loses one: at worst a task names a version that never committed, and the sender drops it.
//! A task names a version (id and time), not "the key": a later write of the key queues its
//! own task, and an older task finds its version replaced and has nothing left to send.

use serde::{Deserialize, Serialize};

use crate::bindings::tessera::node::drive::{self, Drive, DriveError};
use crate::config;
use crate::error::ObjectError;
use crate::get;
use crate::lock;
use crate::meta::{self, ReplicationState, VersionKind};
use crate::names::key_to_path;
use crate::set::{self, ErasureSet};

const RULES_CONFIG: &str = "replication";
const QUEUE_DIR: &str = ".tessera/replication";
const MAGIC: &[u8; 4] = b"TSRQ";
const MAX_TASK_BYTES: usize = 64 << 10;
/// Most queue entries one listing reads (each is a quorum read): a drain takes the oldest.
const MAX_SCANNED: usize = 2_000;

/// The rules as the gateway stores them (bucket configuration `replication`, JSON). Only what
/// decides whether a write is queued is read here; the sender reads the rest.
#[derive(Debug, Default, Deserialize)]
struct Rules {
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
struct Rule {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    tags: Vec<(String, String)>,
    #[serde(default)]
    delete_markers: bool,
}

impl Rules {
    fn takes(&self, key: &str, tags: &[(String, String)], is_delete: bool) -> bool {
        self.rules.iter().any(|rule| {
            rule.enabled
                && key.starts_with(&rule.prefix)
                && (!is_delete || rule.delete_markers)
                // A delete carries no tags: a tag filter cannot exclude it.
                && (is_delete || rule.tags.iter().all(|wanted| tags.contains(wanted)))
        })
    }
}

/// The bucket's rules, if any (a put or delete reads them once; the bucket is known to exist).
fn rules(set: &ErasureSet, bucket: &str) -> Result<Option<Rules>, ObjectError> {
    let Some(document) = config::get_bucket_unchecked(set, bucket, RULES_CONFIG)? else { return Ok(None) };
    serde_json::from_slice(&document)
        .map(Some)
        .map_err(|error| ObjectError::Internal(format!("the replication rules of {bucket} do not parse: {error}")))
}

/// A queued replication, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub modified_ms: u64,
    pub is_delete: bool,
    pub enqueued_ms: u64,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub next_attempt_ms: u64,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub done_targets: Vec<String>,
}

fn task_path(id: &str) -> Result<String, ObjectError> {
    if id.len() != 29 || !id.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(ObjectError::InvalidArgument(format!("{id:?} is not a replication task id")));
    }
    Ok(format!("{QUEUE_DIR}/{id}"))
}

/// Queues a task for this write when the bucket's rules take it; the caller holds the key's
/// lock and commits afterwards. Returns the task's id.
pub fn queue_if_replicated(
    set: &ErasureSet,
    bucket: &str,
    key: &str,
    version_id: &str,
    modified_ms: u64,
    tags: &[(String, String)],
    is_delete: bool,
) -> Result<Option<String>, ObjectError> {
    match rules(set, bucket)? {
        Some(rules) if rules.takes(key, tags, is_delete) => queue(set, bucket, key, version_id, modified_ms, is_delete).map(Some),
        _ => Ok(None),
    }
}

fn queue(set: &ErasureSet, bucket: &str, key: &str, version_id: &str, modified_ms: u64, is_delete: bool) -> Result<String, ObjectError> {
    let now = set::now_ms();
    let id = format!("{now:013x}{}", &set::random_id()?[..16]);
    let task = Task {
        id: id.clone(),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: version_id.to_owned(),
        modified_ms,
        is_delete,
        enqueued_ms: now,
        attempts: 0,
        next_attempt_ms: 0,
        last_error: None,
        done_targets: Vec::new(),
    };
    store(set, &task)?;
    Ok(id)
}

fn store(set: &ErasureSet, task: &Task) -> Result<(), ObjectError> {
    let path = task_path(&task.id)?;
    let body = serde_json::to_vec(task).map_err(|error| ObjectError::Internal(error.to_string()))?;
    let sealed = meta::seal(MAGIC, 1, &body);
    let writes: Vec<(&Drive, String, Vec<u8>)> = set.drives.iter().map(|drive| (drive, path.clone(), sealed.clone())).collect();
    ErasureSet::require(&drive::write_file_all(&writes), set.layout.write_quorum(), "queue a replication task")
}

/// One task as a read quorum of drives has it; none when it is gone (or never fully written).
pub fn get_task(set: &ErasureSet, id: &str) -> Result<Option<Task>, ObjectError> {
    let path = task_path(id)?;
    let reads = set.each(|drive| drive.read_file(&path, MAX_TASK_BYTES as u32));
    let tasks: Vec<Task> =
        reads.iter().filter_map(|read| serde_json::from_slice(meta::unseal(MAGIC, 1..=1, read.as_ref().ok()?).ok()?.1).ok()).collect();
    // Copies differ only when an update reached some drives: any copy is a sound task (the
    // newest update is the one with the most attempts).
    Ok(tasks.into_iter().max_by_key(|task| (task.attempts, task.done_targets.len())))
}

/// Queued tasks, oldest first; of one bucket or all; only those due now, or all.
pub fn list_tasks(set: &ErasureSet, bucket: Option<&str>, due_only: bool, max: usize) -> Result<Vec<Task>, ObjectError> {
    let listings = set.each(|drive| match drive.list_dir(QUEUE_DIR) {
        Err(DriveError::NotFound) => Ok(Vec::new()),
        other => other,
    });
    ErasureSet::require(&listings, set.layout.read_quorum(), "list the replication queue")?;
    let mut ids: Vec<String> =
        listings.into_iter().flatten().flatten().map(|entry| entry.name).filter(|name| task_path(name).is_ok()).collect();
    ids.sort_unstable();
    ids.dedup();
    let now = set::now_ms();
    let mut tasks = Vec::new();
    for id in ids.into_iter().take(MAX_SCANNED) {
        if tasks.len() >= max {
            break;
        }
        let Some(task) = get_task(set, &id)? else { continue };
        if bucket.is_some_and(|bucket| bucket != task.bucket) || (due_only && task.next_attempt_ms > now) {
            continue;
        }
        tasks.push(task);
    }
    Ok(tasks)
}

/// Records what sending a task did (see `objects.update-replication-task`).
pub fn update_task(set: &ErasureSet, task: &Task, done: bool) -> Result<(), ObjectError> {
    let path = task_path(&task.id)?;
    let state = if done {
        ReplicationState::Completed
    } else if task.last_error.is_some() {
        ReplicationState::Failed
    } else {
        ReplicationState::Pending
    };
    if !task.is_delete || task.version_id != crate::versioning::NULL_VERSION {
        let _ = set_state(set, &task.bucket, &task.key, &task.version_id, task.modified_ms, state);
    }
    if done {
        let results = set.each(|drive| match drive.delete(&path, false) {
            Err(DriveError::NotFound) => Ok(()),
            other => other,
        });
        return ErasureSet::require(&results, set.layout.write_quorum(), "remove a replication task");
    }
    store(set, task)
}

/// Sets one version's replication state on every drive that has it (under the key's lock),
/// if it is still the version the task named.
fn set_state(
    set: &ErasureSet,
    bucket: &str,
    key: &str,
    version_id: &str,
    modified_ms: u64,
    state: ReplicationState,
) -> Result<(), ObjectError> {
    let object_dir = set::object_dir(bucket, &key_to_path(key)?);
    let _lease = lock::object(bucket, key)?;
    mark(set, &object_dir, version_id, modified_ms, state);
    Ok(())
}

/// `set_state` for a caller that holds the key's lock. A replica's state never changes.
fn mark(set: &ErasureSet, object_dir: &str, version_id: &str, modified_ms: u64, state: ReplicationState) {
    let metas = get::read_metas(set, object_dir);
    let meta_path = set::meta_path(object_dir);
    let mut writes: Vec<(&Drive, String, Vec<u8>)> = Vec::new();
    for (drive, meta) in set.drives.iter().zip(&metas) {
        let Some(meta) = meta.meta() else { continue };
        let mut changed = meta.clone();
        let Some(version) =
            changed.versions.iter_mut().find(|version| version.version_id == version_id && version.modified_ms == modified_ms)
        else {
            continue;
        };
        if version.replication == Some(state) || version.replication == Some(ReplicationState::Replica) {
            continue;
        }
        version.replication = Some(state);
        writes.push((drive, meta_path.clone(), changed.encode()));
    }
    // Best effort: the state is advisory; the queued task is what counts.
    drive::write_file_all(&writes);
}

/// Queues the latest version of a key when the rules take it (resync); true when queued.
pub fn queue_latest(set: &ErasureSet, bucket: &str, key: &str) -> Result<bool, ObjectError> {
    crate::buckets::head(set, bucket)?;
    let Some(rules) = rules(set, bucket)? else { return Ok(false) };
    let object_dir = set::object_dir(bucket, &key_to_path(key)?);
    let _lease = lock::object(bucket, key)?;
    let metas = get::read_metas(set, &object_dir);
    let Some(latest) = get::agreed_version(&metas, set.layout.read_quorum()).cloned() else { return Ok(false) };
    let is_delete = latest.kind == VersionKind::DeleteMarker;
    if latest.replication == Some(ReplicationState::Replica) || !rules.takes(key, &latest.tags, is_delete) {
        return Ok(false);
    }
    queue(set, bucket, key, &latest.version_id, latest.modified_ms, is_delete)?;
    mark(set, &object_dir, &latest.version_id, latest.modified_ms, ReplicationState::Pending);
    Ok(true)
}

/// The order in which versions of one key win, the same on every site: the later time, then
/// the greater version id, then the greater ETag (two "null" versions written in the same
/// millisecond).
pub fn newer(a: (u64, &str, &str), b: (u64, &str, &str)) -> bool {
    a > b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Rules {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rules_filter_by_prefix_tags_and_delete_markers() {
        let rules = rules(r#"{"rules":[{"enabled":true,"prefix":"docs/","tags":[["team","a"]],"delete_markers":false}]}"#);
        let team = [("team".to_owned(), "a".to_owned())];
        assert!(rules.takes("docs/x", &team, false));
        assert!(!rules.takes("docs/x", &[], false));
        assert!(!rules.takes("other/x", &team, false));
        assert!(!rules.takes("docs/x", &[], true));
        let disabled = super::tests::rules(r#"{"rules":[{"enabled":false,"prefix":""}]}"#);
        assert!(!disabled.takes("a", &[], false));
    }

    #[test]
    fn task_ids_are_checked_before_they_become_paths() {
        assert!(task_path("0123456789abc0123456789abcdef").is_ok());
        assert!(task_path("../../etc/passwd").is_err());
        assert!(task_path("0123456789abc0123456789abcdeg").is_err());
    }

    #[test]
    fn the_later_version_wins_then_the_greater_id() {
        assert!(newer((2, "null", ""), (1, "null", "z")));
        assert!(newer((1, "b", ""), (1, "a", "")));
        assert!(newer((1, "null", "b"), (1, "null", "a")));
        assert!(!newer((1, "null", "a"), (1, "null", "a")));
    }
}
