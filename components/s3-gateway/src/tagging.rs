//! Object and bucket tagging: Put/Get/DeleteObjectTagging, Put/Get/DeleteBucketTagging, and the
//! `x-amz-tagging` header of PutObject, CopyObject and CreateMultipartUpload.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::bindings::tessera::node::objects;
use crate::errors::{read_error, s3_error, version_header};

/// `x-amz-tagging: key1=value1&key2=value2` (URL-encoded, as a query string).
pub fn parse_header(header: Option<&str>) -> S3Result<Vec<(String, String)>> {
    let Some(header) = header.filter(|header| !header.is_empty()) else { return Ok(Vec::new()) };
    header
        .split('&')
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| {
                urlencoding::decode(&text.replace('+', " "))
                    .map(|decoded| decoded.into_owned())
                    .map_err(|_| s3_error!(InvalidTag, "The x-amz-tagging header is not URL-encoded UTF-8"))
            };
            Ok((decode(key)?, decode(value)?))
        })
        .collect()
}

fn from_tag_set(tag_set: TagSet) -> S3Result<Vec<(String, String)>> {
    tag_set
        .into_iter()
        .map(|tag| match (tag.key, tag.value) {
            (Some(key), Some(value)) => Ok((key, value)),
            _ => Err(s3_error!(InvalidTag, "Every tag needs a Key and a Value")),
        })
        .collect()
}

fn to_tag_set(tags: Vec<(String, String)>) -> TagSet {
    tags.into_iter().map(|(key, value)| Tag { key: Some(key), value: Some(value) }).collect()
}

pub fn put_object_tagging(request: S3Request<PutObjectTaggingInput>) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let input = request.input;
    let tags = from_tag_set(input.tagging.tag_set)?;
    let version_id = input.version_id.as_deref();
    objects::set_object_tags(&input.bucket, &input.key, version_id, &tags).map_err(|error| read_error(error, version_id.is_some()))?;
    Ok(S3Response::new(PutObjectTaggingOutput { version_id: input.version_id.as_deref().and_then(version_header) }))
}

pub fn get_object_tagging(request: S3Request<GetObjectTaggingInput>) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let input = request.input;
    let version_id = input.version_id.as_deref();
    let info = objects::head(&input.bucket, &input.key, version_id).map_err(|error| read_error(error, version_id.is_some()))?;
    Ok(S3Response::new(GetObjectTaggingOutput { version_id: version_header(&info.version_id), tag_set: to_tag_set(info.tags) }))
}

pub fn delete_object_tagging(request: S3Request<DeleteObjectTaggingInput>) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let input = request.input;
    let version_id = input.version_id.as_deref();
    objects::set_object_tags(&input.bucket, &input.key, version_id, &[]).map_err(|error| read_error(error, version_id.is_some()))?;
    Ok(S3Response::new(DeleteObjectTaggingOutput { version_id: input.version_id.as_deref().and_then(version_header) }))
}

pub fn put_bucket_tagging(request: S3Request<PutBucketTaggingInput>) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let input = request.input;
    let tags = from_tag_set(input.tagging.tag_set)?;
    objects::set_bucket_tags(&input.bucket, Some(&tags)).map_err(s3_error)?;
    Ok(S3Response::new(PutBucketTaggingOutput::default()))
}

pub fn get_bucket_tagging(request: S3Request<GetBucketTaggingInput>) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let tags = objects::get_bucket_tags(&request.input.bucket).map_err(s3_error)?;
    Ok(S3Response::new(GetBucketTaggingOutput { tag_set: to_tag_set(tags) }))
}

pub fn delete_bucket_tagging(request: S3Request<DeleteBucketTaggingInput>) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    objects::set_bucket_tags(&request.input.bucket, None).map_err(s3_error)?;
    Ok(S3Response::new(DeleteBucketTaggingOutput::default()))
}
