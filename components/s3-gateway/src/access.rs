//! Who may do what: the one place every request is authorized — S3 operations (through s3s's
//! access hook, before the input is read), the sources of copies, each key of a DeleteObjects,
//! and the admin API.
//!
//! The root user may do everything. Any other request is decided by the policies that apply:
//! an IAM user's attached policies plus the bucket's policy; an anonymous request only the
//! bucket policy's statements for `Principal: "*"`. An explicit Deny wins, then an Allow;
//! nothing is allowed by default. Every denial is logged with who, what and why.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use policy::{Decision, Kind, Policy, RequestContext};
use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::{CopyObjectInput, CopySource, DeleteObjectsInput, PostObjectInput, UploadPartCopyInput};
use s3s::path::S3Path;
use s3s::{S3Request, S3Result, s3_error};

use crate::bindings::tessera::node::objects;
use crate::iam;

/// The header the native host sets to the client's address (and strips from requests), read
/// only where the host says so: elsewhere a client could forge it.
const SOURCE_IP_HEADER: &str = "x-tessera-source-ip";

/// Keys of a DeleteObjects the caller may not delete (reported per key, as S3 does).
#[derive(Clone, Default)]
pub struct DeniedKeys(pub HashSet<String>);

/// What a request is, for the policies.
pub struct Ask<'a> {
    pub principal: Option<&'a str>,
    pub action: String,
    /// The bucket whose policy applies, if any.
    pub bucket: Option<&'a str>,
    pub resource: String,
    pub values: Vec<(&'static str, String)>,
}

pub fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// The request's condition values: the client's address (when known), the transport, and the
/// listing's prefix and delimiter.
pub fn condition_values(uri: &http::Uri, headers: &http::HeaderMap) -> Vec<(&'static str, String)> {
    let mut values = Vec::new();
    if std::env::var("TESSERA_TRUST_SOURCE_IP_HEADER").is_ok_and(|value| value == "1")
        && let Some(address) = headers.get(SOURCE_IP_HEADER).and_then(|value| value.to_str().ok())
    {
        values.push(("aws:sourceip", address.to_owned()));
    }
    values.push(("aws:securetransport", (uri.scheme_str() == Some("https")).to_string()));
    // Decoded as s3s decodes the query ('+' is a space, names too), so that a condition sees
    // the prefix the listing uses.
    for (name, value) in query_pairs(uri) {
        let key = match name.as_str() {
            "prefix" => "s3:prefix",
            "delimiter" => "s3:delimiter",
            _ => continue,
        };
        values.push((key, value));
    }
    values
}

fn query_pairs(uri: &http::Uri) -> impl Iterator<Item = (String, String)> + '_ {
    uri.query().unwrap_or_default().split('&').filter(|pair| !pair.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (crate::admin::decode(name), crate::admin::decode(value))
    })
}

/// Whether the request names a version (`?versionId=`): IAM has other actions for those.
fn names_version(uri: &http::Uri) -> bool {
    query_pairs(uri).any(|(name, value)| name == "versionId" && !value.is_empty())
}

/// The decision for one request: Ok, or AccessDenied (logged).
pub fn authorize(root_access_key: &str, ask: &Ask) -> S3Result<()> {
    if ask.principal == Some(root_access_key) {
        return Ok(());
    }
    let mut policies: Vec<Policy> = Vec::new();
    if let Some(access_key) = ask.principal {
        let store = iam::snapshot()?;
        let user =
            store.users.get(access_key).ok_or_else(|| s3_error!(InvalidAccessKeyId, "The access key you provided does not exist"))?;
        policies.extend(user.policies.iter().filter_map(|name| iam::named_policy(store, name)));
    }
    if let Some(bucket) = ask.bucket
        && let Some(bucket_policy) = bucket_policy(bucket)?
    {
        policies.push(bucket_policy);
    }
    let request = RequestContext { action: &ask.action, resource: &ask.resource, principal: ask.principal, values: &ask.values };
    let why = match policy::evaluate(&policies, &request) {
        Decision::Allow => return Ok(()),
        Decision::ExplicitDeny(sid) => format!("explicitly denied by statement {}", sid.as_deref().unwrap_or("(no Sid)")),
        Decision::ImplicitDeny => "no policy allows it".to_owned(),
    };
    eprintln!(
        "tessera audit: access denied: who={} action={} resource={} why={why}",
        ask.principal.unwrap_or("anonymous"),
        ask.action,
        ask.resource
    );
    Err(s3_error!(AccessDenied, "Access Denied"))
}

/// A bucket's policy; none when it has none (or the bucket does not exist: the operation says
/// so). Read once per request: a DeleteObjects asks for each of its keys.
fn bucket_policy(bucket: &str) -> S3Result<Option<Policy>> {
    thread_local! {
        static READ: RefCell<HashMap<String, Option<Policy>>> = RefCell::new(HashMap::new());
    }
    if let Some(known) = READ.with(|read| read.borrow().get(bucket).cloned()) {
        return Ok(known);
    }
    let policy = match objects::get_bucket_config(bucket, "policy") {
        // Validated when put; one that no longer parses must not silently drop its Denies.
        Ok(Some(json)) => Some(policy::parse(&json, &Kind::Bucket(bucket.to_owned())).map_err(|why| {
            eprintln!("tessera audit: the policy of bucket {bucket} does not parse ({why}): denying");
            s3_error!(AccessDenied, "Access Denied")
        })?),
        Ok(None) | Err(objects::ObjectError::NoSuchBucket) => None,
        Err(error) => return Err(crate::errors::s3_error(error)),
    };
    READ.with(|read| read.borrow_mut().insert(bucket.to_owned(), policy.clone()));
    Ok(policy)
}

pub struct NodeAccess {
    root_access_key: String,
}

impl NodeAccess {
    pub fn new(root_access_key: String) -> Self {
        Self { root_access_key }
    }

    fn principal<T>(request: &S3Request<T>) -> Option<String> {
        request.credentials.as_ref().map(|credentials| credentials.access_key.clone())
    }

    /// A copy also reads its source: GetObject (GetObjectVersion) on it is needed too.
    fn check_copy_source<T>(&self, request: &S3Request<T>, source: &CopySource) -> S3Result<()> {
        let CopySource::Bucket { bucket, key, version_id } = source else {
            return Err(s3_error!(NotImplemented, "access points are not supported"));
        };
        let principal = Self::principal(request);
        let ask = Ask {
            principal: principal.as_deref(),
            action: if version_id.is_some() { "s3:GetObjectVersion" } else { "s3:GetObject" }.into(),
            bucket: Some(bucket),
            resource: object_arn(bucket, key),
            values: condition_values(&request.uri, &request.headers),
        };
        authorize(&self.root_access_key, &ask)
    }
}

#[async_trait::async_trait]
impl S3Access for NodeAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let operation = cx.s3_op().name();
        // Decided key by key in `delete_objects`; a form upload by the key in its form.
        if operation == "DeleteObjects" || operation == "PostObject" {
            return Ok(());
        }
        let (bucket, resource) = match cx.s3_path() {
            S3Path::Root => (None, "arn:aws:s3:::*".to_owned()),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), format!("arn:aws:s3:::{bucket}")),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), object_arn(bucket, key)),
        };
        let principal = cx.credentials().map(|credentials| credentials.access_key.clone());
        let ask = Ask {
            principal: principal.as_deref(),
            action: if cx.headers().contains_key(crate::replication::REPLICA_MODIFIED_HEADER) {
                // Another site's replication writing a replica (it keeps the source's id and time).
                // It names no version: a version delete or overwrite needs its own permission.
                if names_version(cx.uri()) {
                    return Err(s3_error!(InvalidRequest, "replica headers do not go with versionId"));
                }
                match operation {
                    "PutObject" => "s3:ReplicateObject".to_owned(),
                    "DeleteObject" => "s3:ReplicateDelete".to_owned(),
                    _ => return Err(s3_error!(InvalidRequest, "replica headers are for PutObject and DeleteObject only")),
                }
            } else if names_version(cx.uri()) {
                policy::actions::for_version_of(operation)
            } else {
                policy::actions::for_operation(operation)
            },
            bucket: bucket.as_deref(),
            resource,
            values: condition_values(cx.uri(), cx.headers()),
        };
        authorize(&self.root_access_key, &ask)
    }

    async fn copy_object(&self, request: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        self.check_copy_source(request, &request.input.copy_source)
    }

    async fn upload_part_copy(&self, request: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        self.check_copy_source(request, &request.input.copy_source)
    }

    async fn post_object(&self, request: &mut S3Request<PostObjectInput>) -> S3Result<()> {
        let principal = Self::principal(request);
        let ask = Ask {
            principal: principal.as_deref(),
            action: "s3:PutObject".into(),
            bucket: Some(&request.input.bucket),
            resource: object_arn(&request.input.bucket, &request.input.key),
            values: condition_values(&request.uri, &request.headers),
        };
        authorize(&self.root_access_key, &ask)
    }

    async fn delete_objects(&self, request: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let principal = Self::principal(request);
        let bucket = request.input.bucket.clone();
        let values = condition_values(&request.uri, &request.headers);
        let mut denied = DeniedKeys::default();
        for object in &request.input.delete.objects {
            let ask = Ask {
                principal: principal.as_deref(),
                action: if object.version_id.is_some() { "s3:DeleteObjectVersion" } else { "s3:DeleteObject" }.into(),
                bucket: Some(&bucket),
                resource: object_arn(&bucket, &object.key),
                values: values.clone(),
            };
            match authorize(&self.root_access_key, &ask) {
                Ok(()) => {}
                Err(error) if *error.code() == s3s::S3ErrorCode::AccessDenied => {
                    denied.0.insert(object.key.clone());
                }
                Err(error) => return Err(error),
            }
        }
        request.extensions.insert(denied);
        Ok(())
    }
}
