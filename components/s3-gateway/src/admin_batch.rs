//! Batch jobs, under `/_tessera/admin/v1/batch` (`tessera admin batch …` calls these):
//! - `POST /jobs` (the YAML spec as the body): queues a job; its id, or InvalidArgument naming
//!   the field that is wrong;
//! - `GET /jobs`: every job's status; `GET /jobs/<id>`: one;
//! - `POST /jobs/<id>/cancel`;
//! - `POST /step[?max=N]`: works on due jobs now (the native host's scheduler does this every
//!   second; without one, a cron can).

use http::{Method, StatusCode};
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};
use serde_json::{Value, json};

use crate::admin::{Query, json as json_response};
use crate::bindings::tessera::node::batch::{self, JobStatus};
use crate::errors::s3_error as object_error;

pub const BATCH: &str = "/_tessera/admin/v1/batch";
/// Largest job spec.
const MAX_SPEC_BYTES: usize = 64 << 10;
const DEFAULT_STEP: u32 = 100;

/// The admin action a request needs, if it is one of these endpoints.
pub fn action(method: &Method, path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix(BATCH)?;
    let segments: Vec<&str> = rest.split('/').filter(|segment| !segment.is_empty()).collect();
    Some(match (segments.as_slice(), method) {
        (["jobs"], &Method::POST) => "admin:StartBatchJob",
        (["jobs"], &Method::GET) => "admin:ListBatchJobs",
        (["jobs", _], &Method::GET) => "admin:DescribeBatchJob",
        (["jobs", _, "cancel"], &Method::POST) => "admin:CancelBatchJob",
        (["step"], &Method::POST) => "admin:StartBatchJob",
        _ => return None,
    })
}

pub async fn call(mut request: S3Request<Body>) -> S3Result<S3Response<Body>> {
    let path = request.uri.path().to_owned();
    let query = Query::parse(&request.uri);
    let body = request
        .input
        .store_all_limited(MAX_SPEC_BYTES)
        .await
        .map_err(|why| s3_error!(InvalidRequest, "the request body could not be read (at most {MAX_SPEC_BYTES} bytes): {why}"))?;
    let rest = path.strip_prefix(BATCH).unwrap_or_default();
    let segments: Vec<String> = rest.split('/').filter(|segment| !segment.is_empty()).map(crate::admin::decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (segments.as_slice(), request.method.clone()) {
        (["jobs"], Method::POST) => {
            let spec = std::str::from_utf8(&body).map_err(|_| s3_error!(InvalidArgument, "the job spec is not UTF-8 text"))?;
            let id = batch::submit(spec).map_err(|why| s3_error!(InvalidArgument, "job spec: {why}"))?;
            Ok(json_response(StatusCode::OK, &json!({ "id": id })))
        }
        (["jobs"], Method::GET) => {
            let jobs: Vec<Value> = batch::list_jobs().map_err(object_error)?.into_iter().map(status_json).collect();
            Ok(json_response(StatusCode::OK, &json!({ "jobs": jobs })))
        }
        (["jobs", id], Method::GET) => match batch::status(id).map_err(object_error)? {
            Some(status) => Ok(json_response(StatusCode::OK, &status_json(status))),
            None => Err(s3_error!(NoSuchKey, "no batch job {id}")),
        },
        (["jobs", id, "cancel"], Method::POST) => match batch::cancel(id).map_err(object_error)? {
            true => Ok(json_response(StatusCode::OK, &json!({ "cancelled": id }))),
            false => Err(s3_error!(NoSuchKey, "no batch job {id}")),
        },
        (["step"], Method::POST) => {
            let max = match query.get("max") {
                Some(text) => text.parse().map_err(|_| s3_error!(InvalidArgument, "max must be a number"))?,
                None => DEFAULT_STEP,
            };
            let more = batch::step(max).map_err(object_error)?;
            Ok(json_response(StatusCode::OK, &json!({ "more": more })))
        }
        _ => Err(s3_error!(MethodNotAllowed, "No such batch endpoint or method")),
    }
}

fn status_json(status: JobStatus) -> Value {
    json!({
        "id": status.id,
        "name": status.name,
        "state": status.state,
        "schedule": status.schedule,
        "objects_total": status.objects_total,
        "objects_done": status.objects_done,
        "bytes_done": status.bytes_done,
        "errors": status.errors,
        "error_details": status.error_details,
        "findings": status.findings,
        "quarantined": status.quarantined,
        "runs": status.runs,
        "next_run_ms": status.next_run_ms,
    })
}
