//! Wiring between `wstd` (wasi:http) and s3s: request in, S3 routing and auth, response out.

use http::header::{CONTENT_LENGTH, HOST};
use http_body_util::BodyExt;
use s3s::host::MultiDomain;
use s3s::service::{S3Service, S3ServiceBuilder};
use wstd::http::{Body, Error, Request, Response};

use crate::Gateway;
use crate::access::NodeAccess;
use crate::admin::{AdminRoute, RESERVED_NAME};
use crate::auth::NodeAuth;
use crate::cors;

/// AWS's bucket-name rules, plus the one name our own endpoints live under (`/_tessera/…`),
/// which the object layer refuses as a bucket anyway (no underscores).
struct BucketNames;

impl s3s::validation::NameValidation for BucketNames {
    fn validate_bucket_name(&self, name: &str) -> bool {
        name == RESERVED_NAME || s3s::validation::AwsNameValidation::new().validate_bucket_name(name)
    }
}

/// Builds the service for this instance (one instance serves one request).
/// The names virtual-hosted-style requests may use (`bucket.NAME`), from `TESSERA_DOMAINS`.
fn domains() -> Vec<String> {
    std::env::var("TESSERA_DOMAINS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|domain| !domain.is_empty())
        .map(str::to_owned)
        .collect()
}

fn build() -> Result<S3Service, Error> {
    let mut builder = S3ServiceBuilder::new(Gateway);
    let auth = NodeAuth::from_env();
    builder.set_route(AdminRoute::new(auth.access_key().to_owned(), auth.secret_box()));
    builder.set_access(NodeAccess::new(auth.access_key().to_owned()));
    builder.set_auth(auth);
    builder.set_validation(BucketNames);
    // Virtual-hosted-style addressing for the configured names (`bucket.NAME`); requests to
    // any IP address are always path-style.
    let domains = domains();
    if !domains.is_empty() {
        builder.set_host(MultiDomain::new(&domains).map_err(|error| anyhow::anyhow!("TESSERA_DOMAINS: {error}"))?);
    }
    Ok(builder.build())
}

/// The longest a presigned URL may stay valid (as S3: 7 days). s3s checks expiry but not this.
const MAX_PRESIGNED_EXPIRES_SECS: u64 = 7 * 24 * 3600;

/// A presigned URL whose `X-Amz-Expires` is not a number of seconds up to 7 days: the error S3
/// gives, before anything else is looked at.
fn presigned_expiry_error(uri: &http::Uri) -> Option<Response<Body>> {
    let expires = uri.query()?.split('&').find_map(|pair| pair.strip_prefix("X-Amz-Expires="))?;
    let message = match expires.parse::<u64>() {
        Ok(seconds) if seconds <= MAX_PRESIGNED_EXPIRES_SECS => return None,
        Ok(_) => "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        Err(_) => "X-Amz-Expires should be a number",
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AuthorizationQueryParametersError</Code><Message>{message}</Message></Error>"
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = http::StatusCode::BAD_REQUEST;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    Some(response)
}

/// What s3s reads whole and parses (XML) may be at most this large: its `xml_max_body_size`.
const MAX_XML_BODY_BYTES: u64 = 20 << 20;
/// Sub-resources whose PUT body is an XML document, not object data.
const XML_PUT_SUBRESOURCES: [&str; 12] = [
    "tagging",
    "cors",
    "acl",
    "policy",
    "lifecycle",
    "versioning",
    "replication",
    "notification",
    "website",
    "encryption",
    "logging",
    "retention",
];

/// An XML body over the limit. s3s refuses it too, but for a streamed body its limit error
/// loses its type on the way and comes out as InternalError; S3 says MaxMessageLengthExceeded.
fn oversized_xml_body(parts: &http::request::Parts) -> Option<Response<Body>> {
    let header = |name: &str| parts.headers.get(name).and_then(|value| value.to_str().ok());
    let length: u64 = header("x-amz-decoded-content-length").or_else(|| header("content-length"))?.parse().ok()?;
    if length <= MAX_XML_BODY_BYTES {
        return None;
    }
    let query_names: Vec<&str> =
        parts.uri.query().unwrap_or_default().split('&').map(|pair| pair.split_once('=').map_or(pair, |(name, _)| name)).collect();
    let is_xml = match parts.method {
        http::Method::PUT => query_names.iter().any(|name| XML_PUT_SUBRESOURCES.contains(name)),
        // A browser form upload carries object data; every other POST body is XML.
        http::Method::POST => !header("content-type").is_some_and(|kind| kind.starts_with("multipart/form-data")),
        _ => false,
    };
    if !is_xml {
        return None;
    }
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>MaxMessageLengthExceeded</Code><Message>Your request was too big.</Message></Error>";
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = http::StatusCode::BAD_REQUEST;
    // No `Connection: close` here: wasi:http forbids that header (the host decides).
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    Some(response)
}

pub async fn handle(request: Request<Body>) -> Result<Response<Body>, Error> {
    if let Some(refused) = presigned_expiry_error(request.uri()) {
        return Ok(refused);
    }
    let service = build()?;
    let (mut parts, body) = request.into_parts();
    // wasi:http hands the Host header over as the URI authority; SigV4 signs `host`.
    if !parts.headers.contains_key(HOST)
        && let Some(authority) = parts.uri.authority()
    {
        parts.headers.insert(HOST, authority.as_str().parse()?);
    }
    if let Some(refused) = oversized_xml_body(&parts) {
        return Ok(refused);
    }
    let host = parts.headers.get(HOST).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let bucket = cors::bucket_of(parts.uri.path(), host.as_deref(), &domains());
    // A CORS preflight carries no credentials: answered from the bucket's rules, before s3s.
    if parts.method == http::Method::OPTIONS
        && let Some(bucket) = &bucket
    {
        let (status, headers, body) = cors::preflight(bucket, &parts.headers);
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        for (name, value) in headers {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        return Ok(response);
    }
    let origin = parts.headers.get(http::header::ORIGIN).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let method = parts.method.clone();
    // Without a declared length, s3s would ask for one (411) even for a GET: an absent length
    // means an empty body here.
    let has_body = parts.headers.contains_key(CONTENT_LENGTH) || parts.headers.contains_key("x-amz-decoded-content-length");
    let body = if has_body { s3s::Body::http_body_unsync(body.into_boxed_body()) } else { s3s::Body::empty() };
    let is_head = parts.method == http::Method::HEAD;
    let response = match service.call(http::Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(error) => {
            eprintln!("s3 gateway: serialising a response failed: {error:?}");
            let mut response = http::Response::new(s3s::Body::empty());
            *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    };
    let (mut parts, body) = response.into_parts();
    if let (Some(origin), Some(bucket)) = (&origin, &bucket) {
        for (name, value) in cors::response_headers(bucket, origin, &method) {
            parts.headers.insert(name, value);
        }
    }
    // Give in-memory bodies (XML, errors) a length instead of chunked encoding.
    if !is_head
        && !parts.headers.contains_key(CONTENT_LENGTH)
        && parts.status != http::StatusCode::NO_CONTENT
        && parts.status != http::StatusCode::NOT_MODIFIED
        && let Some(length) = http_body::Body::size_hint(&body).exact()
    {
        parts.headers.insert(CONTENT_LENGTH, length.into());
    }
    let body = if is_head { Body::empty() } else { Body::from_http_body(body.map_err(anyhow::Error::from_boxed)) };
    Ok(Response::from_parts(parts, body))
}
