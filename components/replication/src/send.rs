//! Sending one task to the targets whose rules take it. What is sent is read back from the
//! object layer at send time: a task whose version was replaced, removed or never committed has
//! nothing left to send (a later write queued its own task).

use replication_config::{ReplicationDocument, Target};
use secret_box::SecretBox;
use sigv4::uri_encode;
use wasip2::http::types::Method;

use crate::bindings::tessera::node::objects::{self, ObjectError, ObjectInfo, ReplicationStatus, ReplicationTask};
use crate::http::{Endpoint, RequestError};

/// Headers that make a write a replica on a Tessera target (other targets ignore them).
pub const REPLICA_VERSION_HEADER: &str = "x-tessera-replica-version-id";
pub const REPLICA_MODIFIED_HEADER: &str = "x-tessera-replica-modified-ms";

/// What sending a task came to.
pub enum Outcome {
    /// Every target has it (`done_targets` lists them).
    Sent,
    /// Nothing to send any more.
    Nothing,
    /// Some target does not have it yet: why.
    Failed(String),
}

/// Sends `task` to every target that lacks it, recording those that took it. A target that
/// did not answer is in `unreachable` for the rest of the drain: its other tasks fail at once
/// instead of each waiting out a connect timeout.
pub fn send(task: &mut ReplicationTask, document: &ReplicationDocument, secrets: &SecretBox, unreachable: &mut Vec<String>) -> Outcome {
    let source = match source_of(task) {
        Ok(Some(source)) => source,
        Ok(None) => return Outcome::Nothing,
        Err(error) => return Outcome::Failed(format!("reading the source: {error:?}")),
    };
    let tags = source.as_ref().map(|info| info.tags.clone()).unwrap_or_default();
    let targets = document.targets_for(&task.key, &tags, task.is_delete);
    if targets.is_empty() {
        return Outcome::Nothing;
    }
    let mut failures = Vec::new();
    for target in targets {
        if task.done_targets.contains(&target.id) {
            continue;
        }
        if unreachable.contains(&target.id) {
            failures.push(format!("{}/{}: did not answer earlier in this drain", target.endpoint, target.bucket));
            continue;
        }
        match send_to(task, source.as_ref(), target, secrets) {
            Ok(()) => task.done_targets.push(target.id.clone()),
            Err(error) => {
                if let RequestError::Transport(_) = error {
                    unreachable.push(target.id.clone());
                }
                failures.push(format!("{}/{}: {error}", target.endpoint, target.bucket));
            }
        }
    }
    if failures.is_empty() { Outcome::Sent } else { Outcome::Failed(failures.join("; ")) }
}

/// What the source has for the task now: `Some(Some(info))` a version to copy, `Some(None)` a
/// delete to pass on, `None` nothing to send.
fn source_of(task: &ReplicationTask) -> Result<Option<Option<ObjectInfo>>, ObjectError> {
    if task.is_delete {
        let versioned_marker = task.version_id != "null";
        return match objects::head(&task.bucket, &task.key, versioned_marker.then_some(task.version_id.as_str())) {
            // The marker is still there (a suspended bucket's is "null").
            Err(ObjectError::DeleteMarker(id)) if id == task.version_id => Ok(Some(None)),
            // Unversioned: the object is gone, as the delete left it.
            Err(ObjectError::NoSuchKey) if !versioned_marker => Ok(Some(None)),
            // The marker was removed, or (unversioned) the key holds an object again: written
            // after the delete (it has its own task), or the delete never happened (it missed
            // its quorum and was undone).
            Ok(_) | Err(ObjectError::NoSuchVersion | ObjectError::NoSuchKey | ObjectError::DeleteMarker(_)) => Ok(None),
            Err(error) => Err(error),
        };
    }
    match objects::head(&task.bucket, &task.key, Some(&task.version_id)) {
        Ok(info) if info.modified_ms == task.modified_ms && info.replication_status != Some(ReplicationStatus::Replica) => {
            Ok(Some(Some(info)))
        }
        Ok(_) | Err(ObjectError::NoSuchVersion | ObjectError::NoSuchKey | ObjectError::DeleteMarker(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

fn send_to(task: &ReplicationTask, source: Option<&ObjectInfo>, target: &Target, secrets: &SecretBox) -> Result<(), RequestError> {
    let secret_key = secrets
        .open(&target.access_key, &target.sealed_secret_key)
        .ok_or_else(|| RequestError::BadEndpoint("the target's secret key does not open (were the root credentials changed?)".into()))?;
    let endpoint = Endpoint::new(&target.endpoint, &target.region, &target.access_key, &secret_key)?;
    let mut headers = vec![
        (REPLICA_VERSION_HEADER.to_owned(), task.version_id.clone()),
        (REPLICA_MODIFIED_HEADER.to_owned(), task.modified_ms.to_string()),
    ];
    let Some(info) = source else {
        return endpoint.send(Method::Delete, &target.bucket, &task.key, &[], &headers, None).map(drop);
    };
    headers.push(("content-length".into(), info.size.to_string()));
    if let Some(content_type) = &info.content_type {
        headers.push(("content-type".into(), content_type.clone()));
    }
    headers.extend(info.user_metadata.iter().map(|(name, value)| (format!("x-amz-meta-{name}"), value.clone())));
    headers.extend(info.headers.iter().cloned());
    if !info.tags.is_empty() {
        let tagging: Vec<String> =
            info.tags.iter().map(|(key, value)| format!("{}={}", uri_encode(key, true), uri_encode(value, true))).collect();
        headers.push(("x-amz-tagging".into(), tagging.join("&")));
    }
    // The bytes are read again for each target: memory holds one chunk at a time.
    let (_, _, download) =
        objects::get(&task.bucket, &task.key, Some(&task.version_id), None).map_err(|error| RequestError::Source(format!("{error:?}")))?;
    let mut sent = 0u64;
    let mut next = || -> Result<Option<Vec<u8>>, String> {
        let chunk = download.read().map_err(|error| format!("{error:?}"))?;
        if let Some(chunk) = &chunk {
            sent += chunk.len() as u64;
        }
        Ok(chunk)
    };
    endpoint.send(Method::Put, &target.bucket, &task.key, &[], &headers, Some(&mut next))?;
    if sent != info.size {
        return Err(RequestError::Source(format!("read {sent} of {} bytes", info.size)));
    }
    Ok(())
}
