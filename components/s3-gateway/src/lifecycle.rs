//! Put/Get/DeleteBucketLifecycleConfiguration: S3's rules, checked here and handed to the
//! object layer as typed rules; every maintenance pass applies them.

use std::collections::HashSet;

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use crate::bindings::tessera::node::objects::{self, LifecycleRule as Rule};
use crate::errors::s3_error;
use crate::objects::timestamp;

const MAX_ID_CHARS: usize = 255;

fn invalid(message: String) -> S3Error {
    s3_error!(InvalidArgument, "{message}")
}

/// A positive number of days, or an error naming the field.
fn days(value: Option<i32>, field: &str) -> S3Result<Option<u32>> {
    match value {
        None => Ok(None),
        Some(days) if days > 0 => Ok(Some(days as u32)),
        Some(_) => Err(invalid(format!("{field} must be a positive number of days"))),
    }
}

fn rule_from_s3(rule: LifecycleRule, ids: &mut HashSet<String>) -> S3Result<Rule> {
    let id = rule.id.unwrap_or_default();
    if id.chars().count() > MAX_ID_CHARS {
        return Err(invalid(format!("rule ID is longer than {MAX_ID_CHARS} characters")));
    }
    if !id.is_empty() && !ids.insert(id.clone()) {
        return Err(invalid(format!("rule ID {id} is not unique")));
    }
    let enabled = match rule.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        other => return Err(s3_error!(MalformedXML, "rule {id}: Status {other} is neither Enabled nor Disabled")),
    };
    if rule.transitions.as_ref().is_some_and(|transitions| !transitions.is_empty())
        || rule.noncurrent_version_transitions.as_ref().is_some_and(|transitions| !transitions.is_empty())
    {
        return Err(s3_error!(NotImplemented, "rule {id}: transitions to other storage classes are not supported"));
    }
    if rule.filter.is_some() && rule.prefix.is_some() {
        return Err(s3_error!(MalformedXML, "rule {id}: a rule has a Filter or a Prefix, not both"));
    }
    let (prefix, tags) = match rule.filter {
        Some(filter) => {
            if filter.object_size_greater_than.is_some()
                || filter.object_size_less_than.is_some()
                || filter.and.as_ref().is_some_and(|and| and.object_size_greater_than.is_some() || and.object_size_less_than.is_some())
            {
                return Err(s3_error!(NotImplemented, "rule {id}: size filters are not supported"));
            }
            let mut tags: Vec<(String, String)> =
                filter.tag.into_iter().map(|tag| (tag.key.unwrap_or_default(), tag.value.unwrap_or_default())).collect();
            let mut prefix = filter.prefix.unwrap_or_default();
            if let Some(and) = filter.and {
                prefix = and.prefix.unwrap_or(prefix);
                tags.extend(
                    and.tags.unwrap_or_default().into_iter().map(|tag| (tag.key.unwrap_or_default(), tag.value.unwrap_or_default())),
                );
            }
            (prefix, tags)
        }
        None => (rule.prefix.unwrap_or_default(), Vec::new()),
    };
    let expiration = rule.expiration.unwrap_or_default();
    let expiration_date_ms = match expiration.date {
        None => None,
        Some(date) => {
            let date = time::OffsetDateTime::from(date);
            if date.time() != time::Time::MIDNIGHT || date.offset() != time::UtcOffset::UTC {
                return Err(invalid(format!("rule {id}: Date must be at midnight UTC")));
            }
            Some((date.unix_timestamp_nanos() / 1_000_000).max(0) as u64)
        }
    };
    let expiration_days = days(expiration.days, "Expiration Days")?;
    let expired_object_delete_marker = expiration.expired_object_delete_marker.unwrap_or(false);
    if [expiration_days.is_some(), expiration_date_ms.is_some(), expired_object_delete_marker].iter().filter(|set| **set).count() > 1 {
        return Err(s3_error!(MalformedXML, "rule {id}: Expiration takes one of Days, Date and ExpiredObjectDeleteMarker"));
    }
    if expired_object_delete_marker && !tags.is_empty() {
        return Err(invalid(format!("rule {id}: ExpiredObjectDeleteMarker cannot be combined with tags")));
    }
    let noncurrent = rule.noncurrent_version_expiration.unwrap_or_default();
    let noncurrent_days = days(noncurrent.noncurrent_days, "NoncurrentDays")?;
    let newer_noncurrent_versions = match noncurrent.newer_noncurrent_versions {
        None => None,
        Some(count) if count > 0 => Some(count as u32),
        Some(_) => return Err(invalid(format!("rule {id}: NewerNoncurrentVersions must be positive"))),
    };
    let abort_incomplete_multipart_days =
        days(rule.abort_incomplete_multipart_upload.and_then(|abort| abort.days_after_initiation), "DaysAfterInitiation")?;
    if abort_incomplete_multipart_days.is_some() && !tags.is_empty() {
        return Err(invalid(format!("rule {id}: AbortIncompleteMultipartUpload cannot be combined with tags")));
    }
    let rule = Rule {
        id,
        enabled,
        prefix,
        tags,
        expiration_days,
        expiration_date_ms,
        expired_object_delete_marker,
        noncurrent_days,
        newer_noncurrent_versions,
        abort_incomplete_multipart_days,
    };
    if rule.expiration_days.is_none()
        && rule.expiration_date_ms.is_none()
        && !rule.expired_object_delete_marker
        && rule.noncurrent_days.is_none()
        && rule.abort_incomplete_multipart_days.is_none()
    {
        return Err(invalid(format!("rule {}: at least one action needs to be specified in a rule", rule.id)));
    }
    Ok(rule)
}

fn rule_to_s3(rule: Rule) -> LifecycleRule {
    let tag = |(key, value): (String, String)| Tag { key: Some(key), value: Some(value) };
    let filter = if rule.tags.is_empty() {
        LifecycleRuleFilter { prefix: Some(rule.prefix), ..Default::default() }
    } else if rule.tags.len() == 1 && rule.prefix.is_empty() {
        LifecycleRuleFilter { tag: rule.tags.into_iter().next().map(tag), ..Default::default() }
    } else {
        let and = LifecycleRuleAndOperator {
            prefix: Some(rule.prefix),
            tags: Some(rule.tags.into_iter().map(tag).collect()),
            ..Default::default()
        };
        LifecycleRuleFilter { and: Some(and), ..Default::default() }
    };
    let expiration =
        (rule.expiration_days.is_some() || rule.expiration_date_ms.is_some() || rule.expired_object_delete_marker).then(|| {
            LifecycleExpiration {
                days: rule.expiration_days.map(|days| days as i32),
                date: rule.expiration_date_ms.map(timestamp),
                expired_object_delete_marker: rule.expired_object_delete_marker.then_some(true),
            }
        });
    LifecycleRule {
        id: Some(rule.id),
        status: ExpirationStatus::from_static(if rule.enabled { ExpirationStatus::ENABLED } else { ExpirationStatus::DISABLED }),
        filter: Some(filter),
        expiration,
        noncurrent_version_expiration: rule.noncurrent_days.map(|days| NoncurrentVersionExpiration {
            noncurrent_days: Some(days as i32),
            newer_noncurrent_versions: rule.newer_noncurrent_versions.map(|count| count as i32),
        }),
        abort_incomplete_multipart_upload: rule
            .abort_incomplete_multipart_days
            .map(|days| AbortIncompleteMultipartUpload { days_after_initiation: Some(days as i32) }),
        noncurrent_version_transitions: None,
        prefix: None,
        transitions: None,
    }
}

pub fn put_bucket_lifecycle_configuration(
    request: S3Request<PutBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    let input = request.input;
    let configuration = input.lifecycle_configuration.ok_or_else(|| s3_error!(MalformedXML, "missing LifecycleConfiguration"))?;
    let mut ids = HashSet::new();
    let rules = configuration.rules.into_iter().map(|rule| rule_from_s3(rule, &mut ids)).collect::<S3Result<Vec<Rule>>>()?;
    if rules.is_empty() {
        return Err(s3_error!(MalformedXML, "a lifecycle configuration needs at least one rule"));
    }
    objects::set_bucket_lifecycle(&input.bucket, Some(&rules)).map_err(s3_error)?;
    Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
}

pub fn get_bucket_lifecycle_configuration(
    request: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let rules = objects::get_bucket_lifecycle(&request.input.bucket)
        .map_err(s3_error)?
        .ok_or_else(|| s3_error!(NoSuchLifecycleConfiguration, "The lifecycle configuration does not exist"))?;
    Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
        rules: Some(rules.into_iter().map(rule_to_s3).collect()),
        ..Default::default()
    }))
}

pub fn delete_bucket_lifecycle(request: S3Request<DeleteBucketLifecycleInput>) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
    objects::set_bucket_lifecycle(&request.input.bucket, None).map_err(s3_error)?;
    Ok(S3Response::with_status(DeleteBucketLifecycleOutput::default(), http::StatusCode::NO_CONTENT))
}
