//! Lifecycle rules: kept per bucket (bucket configuration `lifecycle`, sealed, magic "TSRL") and
//! applied by every maintenance pass to each object it walks, after healing it:
//! - the current version expires a number of days after it was written, or from a date: a
//!   versioned bucket gets a delete marker, an unversioned one loses the object;
//! - a delete marker that is the only version left of its key goes;
//! - a noncurrent version goes a number of days after a newer one replaced it, except the
//!   newest few kept on request;
//! - multipart uploads are aborted a number of days after they began.
//!
//! A "day" is `TESSERA_LIFECYCLE_DAY_SECONDS` seconds (86400 unless set; tests shorten it).

use crate::bindings::exports::tessera::node::objects::LifecycleRule;
use crate::config;
use crate::error::ObjectError;
use crate::get;
use crate::lock;
use crate::meta::{self, FormatError, ObjectVersion, Reader, VersionKind, Writer};
use crate::multipart;
use crate::names::key_to_path;
use crate::put;
use crate::set::{self, ErasureSet};

const CONFIG: &str = "lifecycle";
const MAGIC: &[u8; 4] = b"TSRL";
/// As S3: at most 1000 rules per bucket.
pub const MAX_RULES: usize = 1000;

pub fn get(set: &ErasureSet, bucket: &str) -> Result<Option<Vec<LifecycleRule>>, ObjectError> {
    match config::get_bucket(set, bucket, CONFIG)? {
        None => Ok(None),
        Some(bytes) => decode(&bytes).map(Some).map_err(|error| ObjectError::Internal(format!("lifecycle rules of {bucket}: {error}"))),
    }
}

pub fn set(set: &ErasureSet, bucket: &str, rules: Option<Vec<LifecycleRule>>) -> Result<(), ObjectError> {
    if rules.as_ref().is_some_and(|rules| rules.len() > MAX_RULES || rules.is_empty()) {
        return Err(ObjectError::InvalidArgument(format!("a lifecycle configuration has 1 to {MAX_RULES} rules")));
    }
    config::set_bucket(set, bucket, CONFIG, rules.map(|rules| encode(&rules)))
}

fn optional_u32(out: &mut Writer, value: Option<u32>) {
    out.u8(u8::from(value.is_some()));
    out.u32(value.unwrap_or(0));
}

fn read_optional_u32(input: &mut Reader) -> Result<Option<u32>, FormatError> {
    let present = input.u8()? == 1;
    let value = input.u32()?;
    Ok(present.then_some(value))
}

fn encode(rules: &[LifecycleRule]) -> Vec<u8> {
    let mut body = Writer::default();
    body.u32(rules.len() as u32);
    for rule in rules {
        body.bytes(rule.id.as_bytes());
        body.u8(u8::from(rule.enabled));
        body.bytes(rule.prefix.as_bytes());
        body.pairs(&rule.tags);
        optional_u32(&mut body, rule.expiration_days);
        body.u8(u8::from(rule.expiration_date_ms.is_some()));
        body.u64(rule.expiration_date_ms.unwrap_or(0));
        body.u8(u8::from(rule.expired_object_delete_marker));
        optional_u32(&mut body, rule.noncurrent_days);
        optional_u32(&mut body, rule.newer_noncurrent_versions);
        optional_u32(&mut body, rule.abort_incomplete_multipart_days);
    }
    meta::seal(MAGIC, 1, &body.0)
}

fn decode(bytes: &[u8]) -> Result<Vec<LifecycleRule>, FormatError> {
    let (_, body) = meta::unseal(MAGIC, 1..=1, bytes)?;
    let mut input = Reader(body);
    let count = input.u32()? as usize;
    if count > MAX_RULES {
        return Err(FormatError::Invalid("too many lifecycle rules"));
    }
    let mut rules = Vec::with_capacity(count);
    for _ in 0..count {
        let id = input.string()?;
        let enabled = input.u8()? == 1;
        let prefix = input.string()?;
        let tags = input.pairs(50, "too many tags in a lifecycle rule")?;
        let expiration_days = read_optional_u32(&mut input)?;
        let has_date = input.u8()? == 1;
        let date = input.u64()?;
        let expired_object_delete_marker = input.u8()? == 1;
        let noncurrent_days = read_optional_u32(&mut input)?;
        let newer_noncurrent_versions = read_optional_u32(&mut input)?;
        let abort_incomplete_multipart_days = read_optional_u32(&mut input)?;
        rules.push(LifecycleRule {
            id,
            enabled,
            prefix,
            tags,
            expiration_days,
            expiration_date_ms: has_date.then_some(date),
            expired_object_delete_marker,
            noncurrent_days,
            newer_noncurrent_versions,
            abort_incomplete_multipart_days,
        });
    }
    if !input.0.is_empty() {
        return Err(FormatError::Invalid("trailing bytes"));
    }
    Ok(rules)
}

/// Milliseconds in a lifecycle day.
fn day_ms() -> u64 {
    std::env::var("TESSERA_LIFECYCLE_DAY_SECONDS")
        .ok()
        .and_then(|seconds| seconds.parse::<u64>().ok())
        .unwrap_or(86_400)
        .saturating_mul(1000)
}

fn applies(rule: &LifecycleRule, key: &str, version: &ObjectVersion) -> bool {
    rule.enabled && key.starts_with(&rule.prefix) && rule.tags.iter().all(|tag| version.tags.contains(tag))
}

/// Applies `rules` to one key; how many versions (and markers) it removed or hid. It decides
/// and deletes under the key's lock, so a write that lands meanwhile is never what it removes.
pub fn apply(set: &ErasureSet, bucket: &str, key: &str, rules: &[LifecycleRule]) -> Result<u64, ObjectError> {
    let object_dir = set::object_dir(bucket, &key_to_path(key)?);
    let _lease = lock::object(bucket, key)?;
    let versions = get::agreed_versions(&get::read_metas(set, &object_dir), set.layout.read_quorum());
    let Some(latest) = versions.first() else { return Ok(0) };
    let (now, day) = (set::now_ms(), day_ms());
    let matching: Vec<&LifecycleRule> = rules.iter().filter(|rule| rule.enabled && key.starts_with(&rule.prefix)).collect();
    if matching.is_empty() {
        return Ok(0);
    }
    let mut expired = 0;
    if latest.kind == VersionKind::Object {
        let due = matching.iter().filter(|rule| applies(rule, key, latest)).any(|rule| {
            let by_days = rule.expiration_days.is_some_and(|days| now >= latest.modified_ms.saturating_add(u64::from(days) * day));
            let by_date = rule.expiration_date_ms.is_some_and(|date| now >= date);
            by_days || by_date
        });
        if due {
            put::delete_locked(set, bucket, key, None, put::DeleteOrigin::Lifecycle)?;
            // The old current version is noncurrent from now on: a later pass takes it.
            return Ok(1);
        }
    } else if versions.len() == 1 && matching.iter().any(|rule| rule.expired_object_delete_marker) {
        put::delete_locked(set, bucket, key, Some(&latest.version_id), put::DeleteOrigin::Lifecycle)?;
        return Ok(1);
    }
    // Version i became noncurrent when version i - 1 was written.
    for (index, version) in versions.iter().enumerate().skip(1) {
        let noncurrent_since = versions[index - 1].modified_ms;
        let due = matching.iter().filter(|rule| applies(rule, key, version)).any(|rule| {
            let kept = rule.newer_noncurrent_versions.unwrap_or(0) as usize;
            rule.noncurrent_days.is_some_and(|days| index > kept && now >= noncurrent_since.saturating_add(u64::from(days) * day))
        });
        if due {
            put::delete_locked(set, bucket, key, Some(&version.version_id), put::DeleteOrigin::Lifecycle)?;
            expired += 1;
        }
    }
    Ok(expired)
}

/// Aborts the bucket's multipart uploads that rules say are too old; how many.
pub fn abort_uploads(set: &ErasureSet, bucket: &str, rules: &[LifecycleRule]) -> u64 {
    let day = day_ms();
    rules
        .iter()
        .filter(|rule| rule.enabled)
        .filter_map(|rule| Some((rule.prefix.as_str(), u64::from(rule.abort_incomplete_multipart_days?) * day)))
        .map(|(prefix, max_age_ms)| multipart::expire_in(set, bucket, prefix, max_age_ms))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip() {
        let rules = vec![
            LifecycleRule {
                id: "logs".into(),
                enabled: true,
                prefix: "logs/".into(),
                tags: vec![("tier".into(), "cold".into())],
                expiration_days: Some(30),
                expiration_date_ms: None,
                expired_object_delete_marker: false,
                noncurrent_days: Some(7),
                newer_noncurrent_versions: Some(2),
                abort_incomplete_multipart_days: Some(1),
            },
            LifecycleRule {
                id: "all".into(),
                enabled: false,
                prefix: String::new(),
                tags: Vec::new(),
                expiration_days: None,
                expiration_date_ms: Some(1_700_000_000_000),
                expired_object_delete_marker: true,
                noncurrent_days: None,
                newer_noncurrent_versions: None,
                abort_incomplete_multipart_days: None,
            },
        ];
        let decoded = decode(&encode(&rules)).unwrap();
        assert_eq!(format!("{decoded:?}"), format!("{rules:?}"));
        let mut cut = encode(&rules);
        cut.pop();
        assert!(decode(&cut).is_err());
    }
}
