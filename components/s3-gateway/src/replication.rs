//! Replication at the gateway:
//! - Put/Get/DeleteBucketReplication: S3's rules, each pointing (Destination Bucket ARN) at a
//!   target registered for the bucket through the admin API, kept in the bucket's replication
//!   document (`replication-config`);
//! - replica writes: a request with `x-tessera-replica-*` headers (sent by another site's
//!   replication) writes a replica, which needs `s3:ReplicateObject` / `s3:ReplicateDelete`;
//! - synchronous targets: after a write that queued a task, the gateway sends it at once.

use replication_config::{ReplicationDocument, Rule};
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use crate::bindings::tessera::node::objects::{self, ObjectError, ReplicaSource, ReplicationStatus as Status};
use crate::bindings::tessera::node::replication;
use crate::errors::s3_error;

pub const REPLICA_VERSION_HEADER: &str = "x-tessera-replica-version-id";
pub const REPLICA_MODIFIED_HEADER: &str = "x-tessera-replica-modified-ms";
const MAX_RULES: usize = 1000;
const MAX_ID_CHARS: usize = 255;

/// The replica a request writes, if its headers say it is one.
pub fn replica_source(headers: &http::HeaderMap) -> S3Result<Option<ReplicaSource>> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let Some(modified) = header(REPLICA_MODIFIED_HEADER) else { return Ok(None) };
    let modified_ms = modified.parse().map_err(|_| s3_error!(InvalidArgument, "{REPLICA_MODIFIED_HEADER} must be milliseconds"))?;
    Ok(Some(ReplicaSource { version_id: header(REPLICA_VERSION_HEADER).unwrap_or("null").to_owned(), modified_ms }))
}

pub fn status_header(status: Option<Status>) -> Option<ReplicationStatus> {
    Some(ReplicationStatus::from_static(match status? {
        Status::Pending => ReplicationStatus::PENDING,
        // S3 sends COMPLETED on the source (its enum also has COMPLETE, which it does not send).
        Status::Completed => "COMPLETED",
        Status::Failed => ReplicationStatus::FAILED,
        Status::Replica => ReplicationStatus::REPLICA,
    }))
}

pub fn read_document(bucket: &str) -> S3Result<ReplicationDocument> {
    match objects::get_bucket_config(bucket, replication_config::DOCUMENT).map_err(s3_error)? {
        Some(bytes) => {
            serde_json::from_slice(&bytes).map_err(|error| s3_error!(InternalError, "the replication document does not parse: {error}"))
        }
        None => Ok(ReplicationDocument::default()),
    }
}

pub fn write_document(bucket: &str, document: &ReplicationDocument) -> S3Result<()> {
    let empty = document.targets.is_empty() && document.rules.is_empty();
    let bytes = if empty { None } else { Some(serde_json::to_vec(document).map_err(|error| s3_error!(InternalError, "{error}"))?) };
    objects::set_bucket_config(bucket, replication_config::DOCUMENT, bytes.as_deref()).map_err(s3_error)
}

/// After a write that queued `task`: when one of the bucket's targets is synchronous, send it
/// now, so the write returns once the target has it (or has refused it: the task then stays
/// queued and is retried; the write itself has succeeded either way).
pub fn after_write(bucket: &str, task: Option<&str>) {
    let Some(task) = task else { return };
    let synchronous = read_document(bucket).is_ok_and(|document| document.targets.iter().any(|target| target.sync));
    if synchronous && let Err(error) = replication::replicate_now(task) {
        eprintln!("replication: sending {bucket} task {task} at once failed: {error:?}");
    }
}

/// The request comes from a peer site mirroring a bucket (see `site-sync-bucket`).
pub fn from_peer_site(headers: &http::HeaderMap) -> bool {
    headers.contains_key(replication_config::SITE_HEADER)
}

/// After a bucket was created or its versioning changed: with peer sites, mirror it (unless a
/// peer is doing just that) and replicate it to them. The bucket change itself has succeeded;
/// what failed here is logged, and `tessera admin site sync` repairs it.
pub fn after_bucket_change(bucket: &str, headers: &http::HeaderMap) {
    match replication::site_sync_bucket(bucket, !from_peer_site(headers)) {
        Ok(problems) => {
            for problem in problems {
                eprintln!("site replication: {problem}");
            }
        }
        Err(error) => eprintln!("site replication of {bucket}: {error:?}"),
    }
}

fn rule_from_s3(rule: ReplicationRule, document: &ReplicationDocument, ids: &mut Vec<String>) -> S3Result<Rule> {
    let id = rule.id.clone().filter(|id| !id.is_empty()).unwrap_or_else(|| format!("rule-{}", ids.len() + 1));
    if id.chars().count() > MAX_ID_CHARS {
        return Err(s3_error!(InvalidArgument, "rule ID is longer than {MAX_ID_CHARS} characters"));
    }
    if ids.contains(&id) {
        return Err(s3_error!(InvalidArgument, "rule ID {id} is not unique"));
    }
    ids.push(id.clone());
    let enabled = match rule.status.as_str() {
        ReplicationRuleStatus::ENABLED => true,
        ReplicationRuleStatus::DISABLED => false,
        other => return Err(s3_error!(MalformedXML, "rule {id}: Status {other} is neither Enabled nor Disabled")),
    };
    let tag = |tag: Tag| (tag.key.unwrap_or_default(), tag.value.unwrap_or_default());
    let (prefix, tags) = match rule.filter {
        Some(filter) => {
            let mut tags: Vec<(String, String)> = filter.tag.into_iter().map(tag).collect();
            let mut prefix = filter.prefix.unwrap_or_default();
            if let Some(and) = filter.and {
                prefix = and.prefix.unwrap_or(prefix);
                tags.extend(and.tags.unwrap_or_default().into_iter().map(tag));
            }
            (prefix, tags)
        }
        None => (rule.prefix.unwrap_or_default(), Vec::new()),
    };
    let delete_markers = rule
        .delete_marker_replication
        .and_then(|replication| replication.status)
        .is_some_and(|status| status.as_str() == DeleteMarkerReplicationStatus::ENABLED);
    let target = document.target_of_arn(&rule.destination.bucket).ok_or_else(|| {
        s3_error!(
            InvalidRequest,
            "rule {id}: Destination Bucket {} is not a target of this bucket; register one with `tessera admin replicate add`",
            rule.destination.bucket
        )
    })?;
    Ok(Rule { id, enabled, priority: rule.priority.unwrap_or(0), prefix, tags, delete_markers, target: target.id.clone() })
}

fn rule_to_s3(rule: &Rule, document: &ReplicationDocument) -> ReplicationRule {
    let tag = |(key, value): &(String, String)| Tag { key: Some(key.clone()), value: Some(value.clone()) };
    let filter = if rule.tags.is_empty() {
        ReplicationRuleFilter { prefix: Some(rule.prefix.clone()), ..Default::default() }
    } else {
        let and = ReplicationRuleAndOperator { prefix: Some(rule.prefix.clone()), tags: Some(rule.tags.iter().map(tag).collect()) };
        ReplicationRuleFilter { and: Some(and), ..Default::default() }
    };
    let destination = document.target(&rule.target).map(|target| target.arn()).unwrap_or_default();
    let status = |enabled: bool, on: &'static str, off: &'static str| if enabled { on } else { off };
    ReplicationRule {
        id: Some(rule.id.clone()),
        priority: Some(rule.priority),
        status: ReplicationRuleStatus::from_static(status(rule.enabled, ReplicationRuleStatus::ENABLED, ReplicationRuleStatus::DISABLED)),
        filter: Some(filter),
        prefix: None,
        destination: Destination { bucket: destination, ..Default::default() },
        delete_marker_replication: Some(DeleteMarkerReplication {
            status: Some(DeleteMarkerReplicationStatus::from_static(status(
                rule.delete_markers,
                DeleteMarkerReplicationStatus::ENABLED,
                DeleteMarkerReplicationStatus::DISABLED,
            ))),
        }),
        existing_object_replication: None,
        source_selection_criteria: None,
    }
}

pub fn put_bucket_replication(request: S3Request<PutBucketReplicationInput>) -> S3Result<S3Response<PutBucketReplicationOutput>> {
    let input = request.input;
    let mut document = read_document(&input.bucket)?;
    let configuration = input.replication_configuration;
    if configuration.rules.is_empty() || configuration.rules.len() > MAX_RULES {
        return Err(s3_error!(MalformedXML, "a replication configuration has 1 to {MAX_RULES} rules"));
    }
    let mut ids = Vec::new();
    let rules = configuration.rules.into_iter().map(|rule| rule_from_s3(rule, &document, &mut ids)).collect::<S3Result<Vec<Rule>>>()?;
    require_versioning_compatible(&input.bucket)?;
    document.rules = rules;
    document.role = configuration.role;
    write_document(&input.bucket, &document)?;
    Ok(S3Response::new(PutBucketReplicationOutput::default()))
}

/// S3 asks for versioning; Tessera also replicates unversioned buckets (the latest write wins
/// on both sites), so only the bucket's existence is checked.
fn require_versioning_compatible(bucket: &str) -> S3Result<()> {
    objects::head_bucket(bucket).map(drop).map_err(s3_error)
}

pub fn get_bucket_replication(request: S3Request<GetBucketReplicationInput>) -> S3Result<S3Response<GetBucketReplicationOutput>> {
    let document = read_document(&request.input.bucket)?;
    if document.rules.is_empty() {
        return Err(not_found());
    }
    let rules = document.rules.iter().map(|rule| rule_to_s3(rule, &document)).collect();
    Ok(S3Response::new(GetBucketReplicationOutput {
        replication_configuration: Some(ReplicationConfiguration { role: document.role.clone(), rules }),
    }))
}

pub fn delete_bucket_replication(request: S3Request<DeleteBucketReplicationInput>) -> S3Result<S3Response<DeleteBucketReplicationOutput>> {
    let mut document = read_document(&request.input.bucket)?;
    document.rules.clear();
    write_document(&request.input.bucket, &document)?;
    Ok(S3Response::with_status(DeleteBucketReplicationOutput::default(), http::StatusCode::NO_CONTENT))
}

fn not_found() -> S3Error {
    s3_error!(ReplicationConfigurationNotFoundError, "The replication configuration was not found")
}

/// A replica delete (see `replica_source`).
pub fn replicate_delete(bucket: &str, key: &str, source: &ReplicaSource) -> Result<objects::DeleteResult, ObjectError> {
    objects::replicate_delete(bucket, key, source)
}
