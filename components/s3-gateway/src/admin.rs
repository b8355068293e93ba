//! Tessera's own endpoints beside S3, under `/_tessera/` (a name no bucket can have):
//!
//! - `GET /_tessera/health/cluster` (unauthenticated, for load balancers): 200 while a write
//!   quorum of drives is online, 503 otherwise; JSON body with the drives.
//! - `GET /_tessera/admin/v1/info` (admin:ServerInfo, SigV4): drives, their state and space, the layout.
//! - `POST /_tessera/admin/v1/heal` (admin:Heal, SigV4): one bounded heal step. Query: `bucket`,
//!   `deep=true`, `max` (objects), `after-bucket` + `after-key` (the cursor the previous step
//!   returned), or `queued=true` for what reads found damaged. `tessera admin heal` loops over
//!   it; under `wasmtime serve` a cron can too.
//!
//! - users and policies: `admin_iam`; replication targets, queue and peer sites:
//!   `admin_replication`; batch jobs: `admin_batch`.
//!
//! The root user may call everything; another user what its policies allow (`admin:*`,
//! `admin:Heal`, …), decided by `access` like every other request.
//!
//! The liveness probe `/_tessera/health/live` is answered by the native host without an
//! instance; here it is answered too, so that it works under any runtime.

use http::{Extensions, HeaderMap, Method, StatusCode, Uri};
use s3s::route::S3Route;
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};
use serde::Serialize;

use crate::access::{Ask, authorize, condition_values};
use crate::admin_iam;
use crate::bindings::tessera::node::maintenance::{self, DriveState, HealCursor, HealOptions, HealProgress, NodeStatus};
use crate::errors::s3_error as object_error;
use crate::iam::SecretBox;

/// The path prefix of everything here; also the one "bucket" name s3s is told to accept.
pub const PREFIX: &str = "/_tessera/";
pub const RESERVED_NAME: &str = "_tessera";
const HEALTH_CLUSTER: &str = "/_tessera/health/cluster";
const HEALTH_LIVE: &str = "/_tessera/health/live";
const INFO: &str = "/_tessera/admin/v1/info";
const HEAL: &str = "/_tessera/admin/v1/heal";
/// Objects per heal step when the caller does not say.
const DEFAULT_HEAL_BATCH: u32 = 100;

pub struct AdminRoute {
    root_access_key: String,
    secrets: SecretBox,
}

impl AdminRoute {
    pub fn new(root_access_key: String, secrets: SecretBox) -> Self {
        Self { root_access_key, secrets }
    }
}

/// The admin action an endpoint needs.
fn action(method: &Method, path: &str) -> Option<&'static str> {
    match (method, path) {
        (&Method::GET, INFO) => Some("admin:ServerInfo"),
        (&Method::POST, HEAL) => Some("admin:Heal"),
        _ => admin_iam::action(method, path)
            .or_else(|| crate::admin_replication::action(method, path))
            .or_else(|| crate::admin_batch::action(method, path)),
    }
}

#[async_trait::async_trait]
impl S3Route for AdminRoute {
    fn is_match(&self, _method: &Method, uri: &Uri, _headers: &HeaderMap, _extensions: &mut Extensions) -> bool {
        uri.path().starts_with(PREFIX)
    }

    async fn check_access(&self, request: &mut S3Request<Body>) -> S3Result<()> {
        let path = request.uri.path();
        if path == HEALTH_CLUSTER || path == HEALTH_LIVE {
            return Ok(());
        }
        let Some(credentials) = &request.credentials else {
            return Err(s3_error!(AccessDenied, "The admin API needs a signed request"));
        };
        // Unknown endpoints are answered (NotImplemented) only to those who may administer.
        let action = action(&request.method, path).unwrap_or("admin:*");
        let ask = Ask {
            principal: Some(&credentials.access_key),
            action: action.to_owned(),
            bucket: None,
            resource: "arn:aws:s3:::*".to_owned(),
            values: condition_values(&request.uri, &request.headers),
        };
        authorize(&self.root_access_key, &ask)
    }

    async fn call(&self, request: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let method = request.method.clone();
        match (request.uri.path(), method) {
            (HEALTH_LIVE, Method::GET | Method::HEAD) => Ok(json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))),
            (HEALTH_CLUSTER, Method::GET | Method::HEAD) => Ok(cluster_health()),
            (INFO, Method::GET) => Ok(json(StatusCode::OK, &StatusJson::from(maintenance::status()))),
            (HEAL, Method::POST) => heal(&request.uri),
            (path, _) if path.starts_with(admin_iam::USERS) || path.starts_with(admin_iam::POLICIES) => {
                admin_iam::call(request, &self.secrets, &self.root_access_key).await
            }
            (path, _) if path.starts_with(crate::admin_batch::BATCH) => crate::admin_batch::call(request).await,
            (path, _) if path.starts_with(crate::admin_replication::REPLICATION) || path.starts_with(crate::admin_replication::SITE) => {
                crate::admin_replication::call(request, &self.secrets).await
            }
            (HEALTH_LIVE | HEALTH_CLUSTER | INFO | HEAL, _) => Err(s3_error!(MethodNotAllowed)),
            _ => Err(s3_error!(NotImplemented, "No such Tessera endpoint")),
        }
    }
}

fn cluster_health() -> S3Response<Body> {
    let status = StatusJson::from(maintenance::status());
    let online = status.drives.iter().filter(|drive| drive.state == "online").count() as u32;
    let code = if online >= status.write_quorum { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json(code, &status)
}

fn heal(uri: &Uri) -> S3Result<S3Response<Body>> {
    let query = Query::parse(uri);
    let max = match query.get("max") {
        Some(text) => text.parse().map_err(|_| s3_error!(InvalidArgument, "max must be a number"))?,
        None => DEFAULT_HEAL_BATCH,
    };
    let progress = if query.get("queued") == Some("true") {
        maintenance::heal_queued(max)
    } else {
        let options = HealOptions {
            bucket: query.get("bucket").filter(|bucket| !bucket.is_empty()).map(str::to_owned),
            deep: query.get("deep") == Some("true"),
        };
        let cursor = query
            .get("after-bucket")
            .map(|bucket| HealCursor { bucket: bucket.to_owned(), key: query.get("after-key").unwrap_or_default().to_owned() });
        maintenance::heal_step(&options, cursor.as_ref(), max)
    };
    let progress = progress.map_err(object_error)?;
    Ok(json(StatusCode::OK, &ProgressJson::from(progress)))
}

pub fn json(status: StatusCode, value: &impl Serialize) -> S3Response<Body> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    let mut response = S3Response::with_status(Body::from(bytes::Bytes::from(bytes)), status);
    response.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// The decoded query string.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(uri: &Uri) -> Self {
        let pairs = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(name), decode(value))
            })
            .collect();
        Self(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(candidate, _)| candidate == name).map(|(_, value)| value.as_str())
    }
}

/// Percent-decoding ('+' is a space, as forms send it); malformed escapes stay as they are.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%'
            && let Some(hex) = text.get(index + 1..index + 3)
            && let Ok(value) = u8::from_str_radix(hex, 16)
        {
            out.push(value);
            index += 3;
            continue;
        }
        out.push(if byte == b'+' { b' ' } else { byte });
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Serialize)]
struct DriveJson {
    position: u32,
    label: String,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    total_bytes: u64,
    free_bytes: u64,
}

#[derive(Serialize)]
struct StatusJson {
    drives: Vec<DriveJson>,
    data_shards: u32,
    parity_shards: u32,
    read_quorum: u32,
    write_quorum: u32,
}

impl From<NodeStatus> for StatusJson {
    fn from(status: NodeStatus) -> Self {
        let drives = status
            .drives
            .into_iter()
            .map(|drive| {
                let (state, error) = match drive.state {
                    DriveState::Online => ("online", None),
                    DriveState::Offline(why) => ("offline", Some(why)),
                };
                DriveJson {
                    position: drive.position,
                    label: drive.label,
                    state,
                    error,
                    total_bytes: drive.total_bytes,
                    free_bytes: drive.free_bytes,
                }
            })
            .collect();
        Self {
            drives,
            data_shards: status.data_shards,
            parity_shards: status.parity_shards,
            read_quorum: status.read_quorum,
            write_quorum: status.write_quorum,
        }
    }
}

#[derive(Serialize)]
struct CursorJson {
    bucket: String,
    key: String,
}

#[derive(Serialize)]
struct ProgressJson {
    scanned: u64,
    healed: u64,
    dangling_removed: u64,
    unrecoverable: u64,
    expired: u64,
    details: Vec<String>,
    next: Option<CursorJson>,
}

impl From<HealProgress> for ProgressJson {
    fn from(progress: HealProgress) -> Self {
        Self {
            scanned: progress.scanned,
            healed: progress.healed,
            dangling_removed: progress.dangling_removed,
            unrecoverable: progress.unrecoverable,
            expired: progress.expired,
            details: progress.details,
            next: progress.next.map(|cursor| CursorJson { bucket: cursor.bucket, key: cursor.key }),
        }
    }
}
