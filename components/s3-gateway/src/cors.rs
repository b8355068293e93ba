//! Bucket CORS: Put/Get/DeleteBucketCors store the rules (as JSON, through the object layer's
//! bucket configuration); a preflight `OPTIONS` is answered from them without authentication;
//! an actual request with an `Origin` that a rule allows gets the CORS response headers.

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use serde::{Deserialize, Serialize};

use crate::bindings::tessera::node::objects;
use crate::errors::s3_error;

const CONFIG_NAME: &str = "cors";
const MAX_RULES: usize = 100;
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

#[derive(Serialize, Deserialize, Clone)]
struct Rule {
    id: Option<String>,
    allowed_origins: Vec<String>,
    allowed_methods: Vec<String>,
    allowed_headers: Vec<String>,
    expose_headers: Vec<String>,
    max_age_seconds: Option<i32>,
}

/// `*` matches any run of characters, once per pattern (as S3).
fn wildcard_matches(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(text),
        Some((head, tail)) => {
            text.len() >= head.len() + tail.len()
                && text[..head.len()].eq_ignore_ascii_case(head)
                && text[text.len() - tail.len()..].eq_ignore_ascii_case(tail)
        }
    }
}

impl Rule {
    fn allows(&self, origin: &str, method: &str, headers: &[String]) -> bool {
        self.allowed_origins.iter().any(|allowed| wildcard_matches(allowed, origin))
            && self.allowed_methods.iter().any(|allowed| allowed == method)
            && headers.iter().all(|header| self.allowed_headers.iter().any(|allowed| wildcard_matches(allowed, header)))
    }
}

fn load(bucket: &str) -> S3Result<Option<Vec<Rule>>> {
    let Some(document) = objects::get_bucket_config(bucket, CONFIG_NAME).map_err(s3_error)? else { return Ok(None) };
    serde_json::from_slice(&document).map(Some).map_err(|error| s3_error!(InternalError, "stored CORS configuration unreadable: {error}"))
}

pub fn put_bucket_cors(request: S3Request<PutBucketCorsInput>) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let input = request.input;
    let rules = input.cors_configuration.cors_rules;
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(s3_error!(MalformedXML, "A CORS configuration has 1 to {MAX_RULES} rules"));
    }
    let mut stored = Vec::with_capacity(rules.len());
    for rule in rules {
        for method in &rule.allowed_methods {
            if !METHODS.contains(&method.as_str()) {
                return Err(s3_error!(InvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is {method}"));
            }
        }
        for origin in &rule.allowed_origins {
            if origin.matches('*').count() > 1 {
                return Err(s3_error!(InvalidRequest, "AllowedOrigin \"{origin}\" can not have more than one wildcard."));
            }
        }
        stored.push(Rule {
            id: rule.id,
            allowed_origins: rule.allowed_origins,
            allowed_methods: rule.allowed_methods,
            allowed_headers: rule.allowed_headers.unwrap_or_default(),
            expose_headers: rule.expose_headers.unwrap_or_default(),
            max_age_seconds: rule.max_age_seconds,
        });
    }
    let document = serde_json::to_vec(&stored).map_err(|error| s3_error!(InternalError, "{error}"))?;
    objects::set_bucket_config(&input.bucket, CONFIG_NAME, Some(&document)).map_err(s3_error)?;
    Ok(S3Response::new(PutBucketCorsOutput::default()))
}

pub fn get_bucket_cors(request: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
    let rules = load(&request.input.bucket)?.ok_or_else(|| s3_error!(NoSuchCORSConfiguration, "The CORS configuration does not exist"))?;
    let rules = rules
        .into_iter()
        .map(|rule| CORSRule {
            id: rule.id,
            allowed_origins: rule.allowed_origins,
            allowed_methods: rule.allowed_methods,
            allowed_headers: (!rule.allowed_headers.is_empty()).then_some(rule.allowed_headers),
            expose_headers: (!rule.expose_headers.is_empty()).then_some(rule.expose_headers),
            max_age_seconds: rule.max_age_seconds,
        })
        .collect();
    Ok(S3Response::new(GetBucketCorsOutput { cors_rules: Some(rules) }))
}

pub fn delete_bucket_cors(request: S3Request<DeleteBucketCorsInput>) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    objects::set_bucket_config(&request.input.bucket, CONFIG_NAME, None).map_err(s3_error)?;
    Ok(S3Response::new(DeleteBucketCorsOutput::default()))
}

/// The bucket a request names: the first path segment (path style) or the host's first label
/// in front of one of `domains` (virtual-hosted style).
pub fn bucket_of(path: &str, host: Option<&str>, domains: &[String]) -> Option<String> {
    if let Some(host) = host {
        for domain in domains {
            if let Some(bucket) = host.strip_suffix(domain.as_str()).and_then(|prefix| prefix.strip_suffix('.')) {
                return Some(bucket.to_owned());
            }
        }
    }
    let bucket = path.trim_start_matches('/').split('/').next()?;
    (!bucket.is_empty() && !bucket.starts_with('_')).then(|| bucket.to_owned())
}

/// A preflight request's answer: 200 with the allowing rule's headers, or 403.
pub fn preflight(bucket: &str, headers: &HeaderMap) -> (StatusCode, Vec<(&'static str, String)>, String) {
    let forbidden = |message: &str| {
        (
            StatusCode::FORBIDDEN,
            Vec::new(),
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessForbidden</Code><Message>{message}</Message></Error>"),
        )
    };
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let (Some(origin), Some(method)) = (header("origin"), header("access-control-request-method")) else {
        return (
            StatusCode::BAD_REQUEST,
            Vec::new(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>BadRequest</Code><Message>Insufficient information. Origin request header needed.</Message></Error>".into(),
        );
    };
    let requested: Vec<String> = header("access-control-request-headers")
        .map(|list| list.split(',').map(|name| name.trim().to_ascii_lowercase()).filter(|name| !name.is_empty()).collect())
        .unwrap_or_default();
    let rules = match load(bucket) {
        Ok(Some(rules)) => rules,
        Ok(None) => return forbidden("CORSResponse: CORS is not enabled for this bucket."),
        Err(_) => return forbidden("CORSResponse: This CORS request is not allowed."),
    };
    let Some(rule) = rules.iter().find(|rule| rule.allows(&origin, &method, &requested)) else {
        return forbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        );
    };
    let mut answer = allow_headers(rule, &origin);
    answer.push(("access-control-allow-methods", rule.allowed_methods.join(", ")));
    if !requested.is_empty() {
        answer.push(("access-control-allow-headers", requested.join(", ")));
    }
    if let Some(max_age) = rule.max_age_seconds {
        answer.push(("access-control-max-age", max_age.to_string()));
    }
    (StatusCode::OK, answer, String::new())
}

fn allow_headers(rule: &Rule, origin: &str) -> Vec<(&'static str, String)> {
    let any = rule.allowed_origins.iter().any(|allowed| allowed == "*");
    let mut headers =
        vec![("access-control-allow-origin", if any { "*".to_owned() } else { origin.to_owned() }), ("vary", "Origin".to_owned())];
    if !any {
        headers.push(("access-control-allow-credentials", "true".to_owned()));
    }
    if !rule.expose_headers.is_empty() {
        headers.push(("access-control-expose-headers", rule.expose_headers.join(", ")));
    }
    headers
}

/// The CORS headers an actual request from `origin` gets, when a rule of the bucket allows it.
pub fn response_headers(bucket: &str, origin: &str, method: &Method) -> Vec<(&'static str, HeaderValue)> {
    let Ok(Some(rules)) = load(bucket) else { return Vec::new() };
    let Some(rule) = rules.iter().find(|rule| rule.allows(origin, method.as_str(), &[])) else { return Vec::new() };
    allow_headers(rule, origin).into_iter().filter_map(|(name, value)| Some((name, HeaderValue::from_str(&value).ok()?))).collect()
}
