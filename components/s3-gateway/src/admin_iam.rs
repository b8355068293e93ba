//! The identity endpoints of the admin API, under `/_tessera/admin/v1/` (SigV4; the root user,
//! or a user whose policies allow the `admin:` action named here):
//!
//! - `GET users` (admin:ListUsers): every user, enabled or not, with its policies;
//! - `PUT users/{access-key}` with `{"secret_key": "…"}` (admin:CreateUser): adds a user, or
//!   gives an existing one a new secret;
//! - `DELETE users/{access-key}` (admin:DeleteUser);
//! - `POST users/{access-key}/enable` and `…/disable` (admin:EnableUser, admin:DisableUser);
//! - `GET policies` (admin:ListUserPolicies): canned and stored policies with their documents;
//! - `GET policies/{name}` (admin:GetPolicy), `PUT policies/{name}` with the policy JSON
//!   (admin:CreatePolicy; MalformedPolicy names the field at fault), `DELETE policies/{name}`
//!   (admin:DeletePolicy; detaches it from its users);
//! - `POST policies/{name}/attach?user=A` and `…/detach?user=A` (admin:AttachUserOrGroupPolicy).

use http::{Method, StatusCode};
use s3s::{Body, S3Error, S3Request, S3Response, S3Result, s3_error};
use serde::Deserialize;
use serde_json::json;

use crate::admin::{Query, json as json_response};
use crate::iam::{self, IamDocument, SecretBox, UserRecord};

pub const USERS: &str = "/_tessera/admin/v1/users";
pub const POLICIES: &str = "/_tessera/admin/v1/policies";
/// Largest request body (a policy document).
const MAX_BODY_BYTES: usize = 64 << 10;

/// The admin action a request needs, if it is one of these endpoints.
pub fn action(method: &Method, path: &str) -> Option<&'static str> {
    let (collection, rest) =
        if let Some(rest) = path.strip_prefix(USERS) { ("users", rest) } else { ("policies", path.strip_prefix(POLICIES)?) };
    let segments: Vec<&str> = rest.split('/').filter(|segment| !segment.is_empty()).collect();
    Some(match (collection, segments.as_slice(), method) {
        ("users", [], &Method::GET) => "admin:ListUsers",
        ("users", [_], &Method::PUT) => "admin:CreateUser",
        ("users", [_], &Method::DELETE) => "admin:DeleteUser",
        ("users", [_, "enable"], &Method::POST) => "admin:EnableUser",
        ("users", [_, "disable"], &Method::POST) => "admin:DisableUser",
        ("policies", [], &Method::GET) => "admin:ListUserPolicies",
        ("policies", [_], &Method::GET) => "admin:GetPolicy",
        ("policies", [_], &Method::PUT) => "admin:CreatePolicy",
        ("policies", [_], &Method::DELETE) => "admin:DeletePolicy",
        ("policies", [_, "attach" | "detach"], &Method::POST) => "admin:AttachUserOrGroupPolicy",
        _ => return None,
    })
}

pub async fn call(mut request: S3Request<Body>, secrets: &SecretBox, root_access_key: &str) -> S3Result<S3Response<Body>> {
    let path = request.uri.path().to_owned();
    let query = Query::parse(&request.uri);
    let body = request
        .input
        .store_all_limited(MAX_BODY_BYTES)
        .await
        .map_err(|why| s3_error!(InvalidRequest, "the request body could not be read (at most {MAX_BODY_BYTES} bytes): {why}"))?;
    let method = request.method.clone();
    let (collection, rest) = match path.strip_prefix(USERS) {
        Some(rest) => ("users", rest),
        None => ("policies", path.strip_prefix(POLICIES).unwrap_or_default()),
    };
    let segments: Vec<String> = rest.split('/').filter(|segment| !segment.is_empty()).map(crate::admin::decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (collection, segments.as_slice(), method) {
        ("users", [], Method::GET) => list_users(),
        ("users", [access_key], Method::PUT) => put_user(access_key, &body, secrets, root_access_key),
        ("users", [access_key], Method::DELETE) => change_user(access_key, |document| {
            document.users.remove(*access_key);
        }),
        ("users", [access_key, "enable"], Method::POST) => change_user(access_key, |document| set_enabled(document, access_key, true)),
        ("users", [access_key, "disable"], Method::POST) => change_user(access_key, |document| set_enabled(document, access_key, false)),
        ("policies", [], Method::GET) => list_policies(),
        ("policies", [name], Method::GET) => get_policy(name),
        ("policies", [name], Method::PUT) => put_policy(name, &body),
        ("policies", [name], Method::DELETE) => delete_policy(name),
        ("policies", [name, verb @ ("attach" | "detach")], Method::POST) => {
            let user = query.get("user").ok_or_else(|| s3_error!(InvalidArgument, "name the user: ?user=ACCESS_KEY"))?;
            attach(name, user, *verb == "attach")
        }
        _ => Err(s3_error!(MethodNotAllowed, "No such identity endpoint or method")),
    }
}

fn done(status: StatusCode, value: serde_json::Value) -> S3Result<S3Response<Body>> {
    Ok(json_response(status, &value))
}

fn list_users() -> S3Result<S3Response<Body>> {
    let document = iam::snapshot()?;
    let users: Vec<serde_json::Value> = document
        .users
        .iter()
        .map(|(access_key, user)| json!({ "access_key": access_key, "enabled": user.enabled, "policies": user.policies }))
        .collect();
    done(StatusCode::OK, json!({ "users": users }))
}

#[derive(Deserialize)]
struct NewUser {
    secret_key: String,
}

fn put_user(access_key: &str, body: &[u8], secrets: &SecretBox, root_access_key: &str) -> S3Result<S3Response<Body>> {
    iam::check_access_key(access_key)?;
    if access_key == root_access_key {
        return Err(s3_error!(InvalidArgument, "the root user is not an IAM user"));
    }
    let new_user: NewUser =
        serde_json::from_slice(body).map_err(|why| s3_error!(InvalidArgument, "the body must be {{\"secret_key\": \"…\"}}: {why}"))?;
    iam::check_secret_key(&new_user.secret_key)?;
    let sealed = secrets.seal(access_key, &new_user.secret_key).map_err(|why| s3_error!(InternalError, "{why}"))?;
    let created = iam::update(|document| {
        Ok(match document.users.get_mut(access_key) {
            Some(user) => {
                user.secret = sealed.clone();
                false
            }
            None => {
                document.users.insert(access_key.to_owned(), UserRecord { secret: sealed.clone(), enabled: true, policies: Vec::new() });
                true
            }
        })
    })?;
    done(if created { StatusCode::CREATED } else { StatusCode::OK }, json!({ "access_key": access_key, "created": created }))
}

fn set_enabled(document: &mut IamDocument, access_key: &str, enabled: bool) {
    if let Some(user) = document.users.get_mut(access_key) {
        user.enabled = enabled;
    }
}

/// A change to one user that must exist.
fn change_user(access_key: &str, change: impl Fn(&mut IamDocument)) -> S3Result<S3Response<Body>> {
    iam::update(|document| {
        if !document.users.contains_key(access_key) {
            return Err(iam::not_found("user", access_key));
        }
        change(document);
        Ok(())
    })?;
    done(StatusCode::OK, json!({ "access_key": access_key }))
}

fn policy_json(document: &IamDocument, name: &str) -> Option<(serde_json::Value, bool)> {
    if let Some(canned) = policy::canned::document(name) {
        return Some((serde_json::from_str(canned).ok()?, true));
    }
    document.policies.get(name).map(|value| (value.clone(), false))
}

fn list_policies() -> S3Result<S3Response<Body>> {
    let document = iam::snapshot()?;
    let names = policy::canned::NAMES.iter().map(|name| name.to_string()).chain(document.policies.keys().cloned());
    let policies: Vec<serde_json::Value> = names
        .filter_map(|name| {
            let (policy, canned) = policy_json(document, &name)?;
            Some(json!({ "name": name, "canned": canned, "document": policy }))
        })
        .collect();
    done(StatusCode::OK, json!({ "policies": policies }))
}

fn get_policy(name: &str) -> S3Result<S3Response<Body>> {
    let (policy, canned) = policy_json(iam::snapshot()?, name).ok_or_else(|| iam::not_found("policy", name))?;
    done(StatusCode::OK, json!({ "name": name, "canned": canned, "document": policy }))
}

fn check_policy_name(name: &str) -> S3Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.is_empty() || name.len() > 128 || !name.chars().all(allowed) {
        return Err(s3_error!(InvalidArgument, "a policy name is 1 to 128 letters, digits or -_."));
    }
    if policy::canned::document(name).is_some() {
        return Err(s3_error!(InvalidArgument, "{name} is a canned policy: it cannot be changed or removed"));
    }
    Ok(())
}

fn malformed(why: impl std::fmt::Display) -> S3Error {
    s3_error!(MalformedPolicy, "{why}")
}

fn put_policy(name: &str, body: &[u8]) -> S3Result<S3Response<Body>> {
    check_policy_name(name)?;
    policy::parse(body, &policy::Kind::Identity).map_err(malformed)?;
    let value: serde_json::Value = serde_json::from_slice(body).map_err(malformed)?;
    iam::update(|document| {
        document.policies.insert(name.to_owned(), value.clone());
        Ok(())
    })?;
    done(StatusCode::OK, json!({ "name": name }))
}

fn delete_policy(name: &str) -> S3Result<S3Response<Body>> {
    check_policy_name(name)?;
    let detached = iam::update(|document| {
        if document.policies.remove(name).is_none() {
            return Err(iam::not_found("policy", name));
        }
        let mut detached = Vec::new();
        for (access_key, user) in &mut document.users {
            if user.policies.iter().any(|attached| attached == name) {
                user.policies.retain(|attached| attached != name);
                detached.push(access_key.clone());
            }
        }
        Ok(detached)
    })?;
    done(StatusCode::OK, json!({ "name": name, "detached_from": detached }))
}

fn attach(name: &str, access_key: &str, attach: bool) -> S3Result<S3Response<Body>> {
    iam::update(|document| {
        if policy_json(document, name).is_none() {
            return Err(iam::not_found("policy", name));
        }
        let user = document.users.get_mut(access_key).ok_or_else(|| iam::not_found("user", access_key))?;
        user.policies.retain(|attached| attached != name);
        if attach {
            user.policies.push(name.to_owned());
        }
        Ok(())
    })?;
    done(StatusCode::OK, json!({ "name": name, "user": access_key, "attached": attach }))
}
