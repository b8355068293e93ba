//! The identity store: users (access key, secret, enabled or not, attached policies) and named
//! policies, in one node configuration document (`iam`) that the object layer keeps on every
//! drive. Changes are read-modify-write with the document's etag, retried when another change
//! came between, so none is lost.
//!
//! Secrets are stored sealed (ChaCha20-Poly1305, a random nonce each, the access key as
//! associated data) under a key derived from the root credentials: the drives alone do not
//! give them away. Changing the root credentials therefore makes the stored secrets unreadable;
//! users must then be added again (as with MinIO without a KMS).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use s3s::{S3Error, S3Result, s3_error};
pub use secret_box::SecretBox;
use serde::{Deserialize, Serialize};

use crate::bindings::tessera::node::objects::{self, ObjectError};
use crate::errors::s3_error as object_error;

const DOCUMENT: &str = "iam";
/// Read-modify-write attempts before giving up on a busy store.
const UPDATE_ATTEMPTS: usize = 5;

#[derive(Serialize, Deserialize, Default, Clone)]
pub struct IamDocument {
    #[serde(default)]
    pub users: BTreeMap<String, UserRecord>,
    /// Policies by name, as validated JSON.
    #[serde(default)]
    pub policies: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize, Deserialize, Clone)]
pub struct UserRecord {
    /// base64(nonce ‖ ciphertext).
    pub secret: String,
    pub enabled: bool,
    #[serde(default)]
    pub policies: Vec<String>,
}

/// The document as stored, or an empty one.
fn load() -> S3Result<(IamDocument, String)> {
    match objects::get_node_config(DOCUMENT).map_err(object_error)? {
        None => Ok((IamDocument::default(), String::new())),
        Some((bytes, etag)) => {
            let document =
                serde_json::from_slice(&bytes).map_err(|why| s3_error!(InternalError, "the identity store does not decode: {why}"))?;
            Ok((document, etag))
        }
    }
}

/// This request's view of the store, read once (an instance serves one request).
pub fn snapshot() -> S3Result<&'static IamDocument> {
    static SNAPSHOT: OnceLock<Result<IamDocument, String>> = OnceLock::new();
    SNAPSHOT
        .get_or_init(|| load().map(|(document, _)| document).map_err(|error| error.message().unwrap_or("unavailable").to_owned()))
        .as_ref()
        .map_err(|why| s3_error!(ServiceUnavailable, "the identity store cannot be read: {why}"))
}

/// Applies `change` to the stored document, retrying when another change came between.
pub fn update<T>(mut change: impl FnMut(&mut IamDocument) -> S3Result<T>) -> S3Result<T> {
    for _attempt in 0..UPDATE_ATTEMPTS {
        let (mut document, etag) = load()?;
        let outcome = change(&mut document)?;
        let bytes = serde_json::to_vec(&document).map_err(|why| s3_error!(InternalError, "encoding the identity store: {why}"))?;
        match objects::set_node_config(DOCUMENT, Some(&bytes), Some(&etag)) {
            Ok(()) => return Ok(outcome),
            Err(ObjectError::PreconditionFailed) => continue,
            Err(error) => return Err(object_error(error)),
        }
    }
    Err(s3_error!(SlowDown, "the identity store kept changing; try again"))
}

/// Access keys: 3 to 128 characters of letters, digits and `-_.@+=`.
pub fn check_access_key(access_key: &str) -> S3Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.@+=".contains(c);
    if !(3..=128).contains(&access_key.len()) || !access_key.chars().all(allowed) {
        return Err(s3_error!(InvalidArgument, "an access key is 3 to 128 letters, digits or -_.@+="));
    }
    Ok(())
}

/// Secrets: 8 to 128 characters.
pub fn check_secret_key(secret: &str) -> S3Result<()> {
    if !(8..=128).contains(&secret.chars().count()) {
        return Err(s3_error!(InvalidArgument, "a secret key is 8 to 128 characters"));
    }
    Ok(())
}

/// A policy by name: canned, or from the store.
pub fn named_policy(document: &IamDocument, name: &str) -> Option<policy::Policy> {
    if let Some(canned) = policy::canned::policy(name) {
        return Some(canned);
    }
    let json = serde_json::to_vec(document.policies.get(name)?).ok()?;
    policy::parse(&json, &policy::Kind::Identity).ok()
}

pub fn not_found(what: &str, name: &str) -> S3Error {
    let mut error = s3_error!(InvalidArgument, "no {what} named {name}");
    error.set_status_code(http::StatusCode::NOT_FOUND);
    error
}
