//! The replication component: exports `tessera:node/replication` over `objects` and
//! `wasi:http/outgoing-handler`. The object layer queues a task before each replicated write
//! commits; `drain` sends due tasks as plain S3 requests (so a target can be another Tessera,
//! MinIO or AWS) and records the outcome: done, or retried later with bounded exponential
//! backoff.

mod http;
mod send;
mod site;

mod bindings {
    wit_bindgen::generate!({
        world: "replicator",
        path: "../../wit",
    });
}

use bindings::exports::tessera::node::replication::{DrainProgress, Guest, ReplicationStats};
use bindings::tessera::node::objects::{self, ListQuery, ObjectError, ReplicationTask};
use replication_config::ReplicationDocument;
use secret_box::SecretBox;
use serde::{Deserialize, Serialize};

/// First retry after this long, doubling per attempt up to the maximum.
const FIRST_BACKOFF_MS: u64 = 1_000;
/// The longest wait between attempts (`TESSERA_REPLICATION_MAX_BACKOFF_SECONDS` changes it).
const DEFAULT_MAX_BACKOFF_MS: u64 = 5 * 60 * 1_000;
/// Counters kept per bucket (bucket configuration `replicationstats`).
const STATS_DOCUMENT: &str = "replicationstats";
/// Most tasks `status` counts.
const MAX_COUNTED: u32 = 100_000;

struct Replication;

#[derive(Default, Serialize, Deserialize)]
struct Stats {
    completed: u64,
}

impl Guest for Replication {
    fn drain(max: u32) -> Result<DrainProgress, ObjectError> {
        let tasks = objects::list_replication_tasks(None, true, max)?;
        let remaining = tasks.len() as u32 >= max;
        let mut progress = DrainProgress { sent: 0, failed: 0, skipped: 0, remaining, details: Vec::new() };
        let secrets = secrets();
        let mut documents: Vec<(String, Option<ReplicationDocument>)> = Vec::new();
        let mut completed: Vec<(String, u64)> = Vec::new();
        let mut unreachable = Vec::new();
        for task in tasks {
            if !documents.iter().any(|(bucket, _)| *bucket == task.bucket) {
                documents.push((task.bucket.clone(), document(&task.bucket)?));
            }
            let document = documents.iter().find(|(bucket, _)| *bucket == task.bucket).and_then(|(_, document)| document.as_ref());
            let outcome = attempt(task, document, &secrets, &mut unreachable)?;
            match outcome {
                Attempt::Sent(bucket) => {
                    progress.sent += 1;
                    match completed.iter_mut().find(|(name, _)| *name == bucket) {
                        Some((_, count)) => *count += 1,
                        None => completed.push((bucket, 1)),
                    }
                }
                Attempt::Skipped => progress.skipped += 1,
                Attempt::Failed(line) => {
                    progress.failed += 1;
                    progress.details.push(line);
                }
            }
        }
        for (bucket, count) in completed {
            add_completed(&bucket, count);
        }
        Ok(progress)
    }

    fn replicate_now(task_id: String) -> Result<bool, ObjectError> {
        let Some(task) = objects::get_replication_task(&task_id)? else { return Ok(true) };
        let bucket = task.bucket.clone();
        let document = document(&bucket)?;
        let outcome = attempt(task, document.as_ref(), &secrets(), &mut Vec::new())?;
        if let Attempt::Sent(_) = outcome {
            add_completed(&bucket, 1);
        }
        Ok(!matches!(outcome, Attempt::Failed(_)))
    }

    fn resync(bucket: String, after: String, max: u32) -> Result<(u64, Option<String>), ObjectError> {
        let page = objects::list_objects(
            &bucket,
            &ListQuery { prefix: String::new(), delimiter: String::new(), after, max_keys: max.clamp(1, 1000) },
        )?;
        let mut queued = 0;
        for object in &page.objects {
            if objects::queue_replication(&bucket, &object.key)? {
                queued += 1;
            }
        }
        Ok((queued, page.next_after.filter(|_| page.is_truncated)))
    }

    fn status(bucket: String) -> Result<ReplicationStats, ObjectError> {
        objects::head_bucket(&bucket)?;
        let tasks = objects::list_replication_tasks(Some(&bucket), false, MAX_COUNTED)?;
        let now = now_ms();
        let failed: Vec<&ReplicationTask> = tasks.iter().filter(|task| task.last_error.is_some()).collect();
        Ok(ReplicationStats {
            pending: tasks.len() as u64,
            failed: failed.len() as u64,
            completed: stats(&bucket).completed,
            lag_ms: tasks.iter().map(|task| now.saturating_sub(task.enqueued_ms)).max().unwrap_or(0),
            last_error: failed.iter().max_by_key(|task| task.next_attempt_ms).and_then(|task| task.last_error.clone()),
        })
    }

    fn site_sync_bucket(bucket: String, propagate: bool) -> Result<Vec<String>, ObjectError> {
        site::sync_bucket(&bucket, propagate, &secrets())
    }
}

enum Attempt {
    Sent(String),
    Skipped,
    Failed(String),
}

/// Sends one task and records the outcome with the object layer.
fn attempt(
    mut task: ReplicationTask,
    document: Option<&ReplicationDocument>,
    secrets: &SecretBox,
    unreachable: &mut Vec<String>,
) -> Result<Attempt, ObjectError> {
    let outcome = match document {
        Some(document) => send::send(&mut task, document, secrets, unreachable),
        None => send::Outcome::Nothing,
    };
    Ok(match outcome {
        send::Outcome::Sent => {
            objects::update_replication_task(&task, true)?;
            Attempt::Sent(task.bucket)
        }
        send::Outcome::Nothing => {
            objects::update_replication_task(&task, true)?;
            Attempt::Skipped
        }
        send::Outcome::Failed(why) => {
            task.attempts = task.attempts.saturating_add(1);
            let backoff = FIRST_BACKOFF_MS.saturating_mul(1 << task.attempts.min(30)).min(max_backoff_ms());
            task.next_attempt_ms = now_ms() + backoff;
            let line = format!("replication of {}/{} (attempt {}) failed: {why}", task.bucket, task.key, task.attempts);
            task.last_error = Some(why);
            objects::update_replication_task(&task, false)?;
            Attempt::Failed(line)
        }
    })
}

fn document(bucket: &str) -> Result<Option<ReplicationDocument>, ObjectError> {
    match objects::get_bucket_config(bucket, replication_config::DOCUMENT) {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| ObjectError::Internal(format!("the replication document of {bucket} does not parse: {error}"))),
        Ok(None) | Err(ObjectError::NoSuchBucket) => Ok(None),
        Err(error) => Err(error),
    }
}

fn stats(bucket: &str) -> Stats {
    objects::get_bucket_config(bucket, STATS_DOCUMENT)
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Best effort: a counter for `status`, never worth failing a drain over.
fn add_completed(bucket: &str, count: u64) {
    let mut stats = stats(bucket);
    stats.completed += count;
    if let Ok(bytes) = serde_json::to_vec(&stats) {
        let _ = objects::set_bucket_config(bucket, STATS_DOCUMENT, Some(&bytes));
    }
}

fn secrets() -> SecretBox {
    let variable = |name: &str| std::env::var(name).unwrap_or_default();
    SecretBox::new(&variable("TESSERA_ROOT_USER"), &variable("TESSERA_ROOT_PASSWORD"))
}

fn max_backoff_ms() -> u64 {
    std::env::var("TESSERA_REPLICATION_MAX_BACKOFF_SECONDS")
        .ok()
        .and_then(|seconds| seconds.parse::<u64>().ok())
        .map_or(DEFAULT_MAX_BACKOFF_MS, |seconds| seconds * 1_000)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
}

bindings::export!(Replication with_types_in bindings);
