//! Replication targets and the replication queue, under `/_tessera/admin/v1/replication`
//! (`tessera admin replicate …` calls these):
//!
//! - `GET ?bucket=B`: the bucket's targets (no secrets) and rules;
//! - `POST /targets?bucket=B` (JSON: endpoint, bucket, access_key, secret_key, region, sync,
//!   prefix, delete_markers, priority): registers a target and a rule that sends the bucket (or
//!   the prefix) to it; returns the target's id and ARN;
//! - `PUT /targets/<id>?bucket=B` (JSON: access_key, secret_key): new credentials for a target;
//! - `DELETE /targets/<id>?bucket=B`: removes a target and its rules;
//! - `GET /status?bucket=B`: pending, failed, completed, lag;
//! - `POST /resync?bucket=B[&after=K][&max=N]`: queues existing objects, a page at a time;
//! - `POST /drain[?max=N]`: sends due tasks now (what the native host's scheduler does in the
//!   background; under `wasmtime serve` a cron calls this).
//!
//! Site replication, under `/_tessera/admin/v1/site` (`tessera admin site …`):
//! - `GET`: the peer sites (no secrets);
//! - `POST /peers` (JSON: endpoint, access_key, secret_key, region): adds (or updates) a peer;
//! - `POST /sync`: mirrors every bucket to every peer and replicates it there; returns the
//!   buckets and what failed.

use http::{Method, StatusCode};
use replication_config::{Peer, Rule, SITE_DOCUMENT, SiteDocument, Target};
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};
use serde::Deserialize;
use serde_json::json;

use crate::admin::{Query, json as json_response};
use crate::bindings::tessera::node::objects::{self, ObjectError};
use crate::bindings::tessera::node::replication;
use crate::errors::s3_error as object_error;
use crate::iam::SecretBox;
use crate::replication::{read_document, write_document};

pub const REPLICATION: &str = "/_tessera/admin/v1/replication";
pub const SITE: &str = "/_tessera/admin/v1/site";
const MAX_BODY_BYTES: usize = 16 << 10;
const DEFAULT_DRAIN: u32 = 100;
const DEFAULT_RESYNC_PAGE: u32 = 1000;
const DEFAULT_REGION: &str = "us-east-1";

/// The admin action a request needs, if it is one of these endpoints.
pub fn action(method: &Method, path: &str) -> Option<&'static str> {
    if let Some(rest) = path.strip_prefix(SITE) {
        return match (rest, method) {
            ("" | "/", &Method::GET) => Some("admin:SiteReplicationInfo"),
            ("/peers" | "/sync", &Method::POST) => Some("admin:SiteReplicationAdd"),
            _ => None,
        };
    }
    let rest = path.strip_prefix(REPLICATION)?;
    let segments: Vec<&str> = rest.split('/').filter(|segment| !segment.is_empty()).collect();
    Some(match (segments.as_slice(), method) {
        ([] | ["status"], &Method::GET) => "admin:GetBucketTarget",
        (["targets"], &Method::POST) | (["targets", _], &Method::PUT | &Method::DELETE) | (["resync"], &Method::POST) => {
            "admin:SetBucketTarget"
        }
        (["drain"], &Method::POST) => "admin:ReplicationDrain",
        _ => return None,
    })
}

pub async fn call(mut request: S3Request<Body>, secrets: &SecretBox) -> S3Result<S3Response<Body>> {
    let path = request.uri.path().to_owned();
    let query = Query::parse(&request.uri);
    let body = request
        .input
        .store_all_limited(MAX_BODY_BYTES)
        .await
        .map_err(|why| s3_error!(InvalidRequest, "the request body could not be read (at most {MAX_BODY_BYTES} bytes): {why}"))?;
    if let Some(rest) = path.strip_prefix(SITE) {
        return match (rest, request.method.clone()) {
            ("" | "/", Method::GET) => site_peers(),
            ("/peers", Method::POST) => add_peer(&body, secrets),
            ("/sync", Method::POST) => site_sync(),
            _ => Err(s3_error!(MethodNotAllowed, "No such site replication endpoint or method")),
        };
    }
    let rest = path.strip_prefix(REPLICATION).unwrap_or_default();
    let segments: Vec<String> = rest.split('/').filter(|segment| !segment.is_empty()).map(crate::admin::decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if let ["drain"] = segments.as_slice() {
        return drain(&query);
    }
    let bucket =
        query.get("bucket").filter(|bucket| !bucket.is_empty()).ok_or_else(|| s3_error!(InvalidArgument, "name the bucket: ?bucket=B"))?;
    match (segments.as_slice(), request.method.clone()) {
        ([], Method::GET) => describe(bucket),
        (["status"], Method::GET) => status(bucket),
        (["targets"], Method::POST) => add_target(bucket, &body, secrets),
        (["targets", id], Method::PUT) => set_credentials(bucket, id, &body, secrets),
        (["targets", id], Method::DELETE) => remove_target(bucket, id),
        (["resync"], Method::POST) => resync(bucket, &query),
        _ => Err(s3_error!(MethodNotAllowed, "No such replication endpoint or method")),
    }
}

fn describe(bucket: &str) -> S3Result<S3Response<Body>> {
    let document = read_document(bucket)?;
    let targets: Vec<serde_json::Value> = document
        .targets
        .iter()
        .map(|target| {
            json!({
                "id": target.id, "arn": target.arn(), "endpoint": target.endpoint, "bucket": target.bucket,
                "region": target.region, "access_key": target.access_key, "sync": target.sync,
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "targets": targets, "rules": document.rules })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTarget {
    endpoint: String,
    bucket: String,
    access_key: String,
    secret_key: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    sync: bool,
    #[serde(default)]
    prefix: String,
    #[serde(default = "yes")]
    delete_markers: bool,
    #[serde(default)]
    priority: i32,
}

fn yes() -> bool {
    true
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> S3Result<T> {
    serde_json::from_slice(body).map_err(|error| s3_error!(InvalidArgument, "the request body is not the expected JSON: {error}"))
}

fn check_endpoint(endpoint: &str) -> S3Result<()> {
    let authority = endpoint.strip_prefix("http://").or_else(|| endpoint.strip_prefix("https://"));
    match authority.map(|authority| authority.trim_end_matches('/')) {
        Some(authority) if !authority.is_empty() && !authority.contains('/') => Ok(()),
        _ => Err(s3_error!(InvalidArgument, "endpoint must be http(s)://host[:port], without a path")),
    }
}

fn check_credentials(access_key: &str, secret_key: &str) -> S3Result<()> {
    if access_key.is_empty() || access_key.len() > 128 || secret_key.is_empty() || secret_key.len() > 128 {
        return Err(s3_error!(InvalidArgument, "access_key and secret_key are 1 to 128 characters"));
    }
    Ok(())
}

fn add_target(bucket: &str, body: &[u8], secrets: &SecretBox) -> S3Result<S3Response<Body>> {
    let new: NewTarget = parse(body)?;
    check_endpoint(&new.endpoint)?;
    check_credentials(&new.access_key, &new.secret_key)?;
    if new.bucket.is_empty() || new.bucket.len() > 63 {
        return Err(s3_error!(InvalidArgument, "the target bucket name has 1 to 63 characters"));
    }
    let mut document = read_document(bucket)?;
    let endpoint = new.endpoint.trim_end_matches('/').to_owned();
    if document.targets.iter().any(|target| target.endpoint == endpoint && target.bucket == new.bucket) {
        return Err(s3_error!(InvalidRequest, "{endpoint}/{} is a target of {bucket} already", new.bucket));
    }
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|why| s3_error!(InternalError, "no randomness: {why}"))?;
    let id: String = nonce.iter().map(|byte| format!("{byte:02x}")).collect();
    let sealed_secret_key = secrets.seal(&new.access_key, &new.secret_key).map_err(|why| s3_error!(InternalError, "{why}"))?;
    let target = Target {
        id: id.clone(),
        endpoint,
        bucket: new.bucket,
        region: new.region.unwrap_or_else(|| DEFAULT_REGION.to_owned()),
        access_key: new.access_key,
        sealed_secret_key,
        sync: new.sync,
    };
    let arn = target.arn();
    document.rules.push(Rule {
        id: format!("tessera-{id}"),
        enabled: true,
        priority: new.priority,
        prefix: new.prefix,
        tags: Vec::new(),
        delete_markers: new.delete_markers,
        target: id.clone(),
    });
    document.targets.push(target);
    write_document(bucket, &document)?;
    Ok(json_response(StatusCode::OK, &json!({ "id": id, "arn": arn, "rule": format!("tessera-{id}") })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCredentials {
    access_key: String,
    secret_key: String,
}

fn set_credentials(bucket: &str, id: &str, body: &[u8], secrets: &SecretBox) -> S3Result<S3Response<Body>> {
    let new: NewCredentials = parse(body)?;
    check_credentials(&new.access_key, &new.secret_key)?;
    let mut document = read_document(bucket)?;
    let target = document.targets.iter_mut().find(|target| target.id == id).ok_or_else(|| s3_error!(NoSuchKey, "no target {id}"))?;
    target.sealed_secret_key = secrets.seal(&new.access_key, &new.secret_key).map_err(|why| s3_error!(InternalError, "{why}"))?;
    target.access_key = new.access_key;
    write_document(bucket, &document)?;
    Ok(json_response(StatusCode::OK, &json!({ "id": id })))
}

fn remove_target(bucket: &str, id: &str) -> S3Result<S3Response<Body>> {
    let mut document = read_document(bucket)?;
    let before = document.targets.len();
    document.targets.retain(|target| target.id != id);
    if document.targets.len() == before {
        return Err(s3_error!(NoSuchKey, "no target {id}"));
    }
    document.rules.retain(|rule| rule.target != id);
    write_document(bucket, &document)?;
    Ok(json_response(StatusCode::OK, &json!({ "removed": id })))
}

fn status(bucket: &str) -> S3Result<S3Response<Body>> {
    let stats = replication::status(bucket).map_err(object_error)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "bucket": bucket,
            "pending": stats.pending,
            "failed": stats.failed,
            "completed": stats.completed,
            "lag_seconds": stats.lag_ms as f64 / 1000.0,
            "last_error": stats.last_error,
        }),
    ))
}

fn number(query: &Query, name: &str, default: u32) -> S3Result<u32> {
    match query.get(name) {
        Some(text) => text.parse().map_err(|_| s3_error!(InvalidArgument, "{name} must be a number")),
        None => Ok(default),
    }
}

fn resync(bucket: &str, query: &Query) -> S3Result<S3Response<Body>> {
    let max = number(query, "max", DEFAULT_RESYNC_PAGE)?;
    let (queued, next) = replication::resync(bucket, query.get("after").unwrap_or_default(), max).map_err(object_error)?;
    Ok(json_response(StatusCode::OK, &json!({ "queued": queued, "next": next })))
}

fn drain(query: &Query) -> S3Result<S3Response<Body>> {
    let max = number(query, "max", DEFAULT_DRAIN)?;
    let progress = replication::drain(max).map_err(object_error)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "sent": progress.sent, "failed": progress.failed, "skipped": progress.skipped,
            "remaining": progress.remaining, "details": progress.details,
        }),
    ))
}

fn read_site() -> S3Result<(SiteDocument, String)> {
    match objects::get_node_config(SITE_DOCUMENT).map_err(object_error)? {
        Some((bytes, etag)) => Ok((
            serde_json::from_slice(&bytes).map_err(|error| s3_error!(InternalError, "the site document does not parse: {error}"))?,
            etag,
        )),
        None => Ok((SiteDocument::default(), String::new())),
    }
}

fn site_peers() -> S3Result<S3Response<Body>> {
    let (site, _) = read_site()?;
    let peers: Vec<serde_json::Value> =
        site.peers.iter().map(|peer| json!({ "endpoint": peer.endpoint, "region": peer.region, "access_key": peer.access_key })).collect();
    Ok(json_response(StatusCode::OK, &json!({ "peers": peers })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPeer {
    endpoint: String,
    access_key: String,
    secret_key: String,
    #[serde(default)]
    region: Option<String>,
}

/// Read-modify-write attempts of the site document before giving up.
const SITE_UPDATE_ATTEMPTS: usize = 5;

fn add_peer(body: &[u8], secrets: &SecretBox) -> S3Result<S3Response<Body>> {
    let new: NewPeer = parse(body)?;
    check_endpoint(&new.endpoint)?;
    check_credentials(&new.access_key, &new.secret_key)?;
    let peer = Peer {
        endpoint: new.endpoint.trim_end_matches('/').to_owned(),
        region: new.region.unwrap_or_else(|| DEFAULT_REGION.to_owned()),
        access_key: new.access_key.clone(),
        sealed_secret_key: secrets.seal(&new.access_key, &new.secret_key).map_err(|why| s3_error!(InternalError, "{why}"))?,
    };
    for _ in 0..SITE_UPDATE_ATTEMPTS {
        let (mut site, etag) = read_site()?;
        site.peers.retain(|known| known.endpoint != peer.endpoint);
        site.peers.push(peer.clone());
        let bytes = serde_json::to_vec(&site).map_err(|error| s3_error!(InternalError, "{error}"))?;
        match objects::set_node_config(SITE_DOCUMENT, Some(&bytes), Some(&etag)) {
            Ok(()) => return Ok(json_response(StatusCode::OK, &json!({ "peer": peer.endpoint, "peers": site.peers.len() }))),
            Err(ObjectError::PreconditionFailed) => continue,
            Err(error) => return Err(object_error(error)),
        }
    }
    Err(s3_error!(SlowDown, "the site document kept changing; try again"))
}

fn site_sync() -> S3Result<S3Response<Body>> {
    let buckets = objects::list_buckets().map_err(object_error)?;
    let mut problems = Vec::new();
    for bucket in &buckets {
        problems.extend(replication::site_sync_bucket(&bucket.name, true).map_err(object_error)?);
    }
    let names: Vec<&str> = buckets.iter().map(|bucket| bucket.name.as_str()).collect();
    Ok(json_response(StatusCode::OK, &json!({ "buckets": names, "problems": problems })))
}
