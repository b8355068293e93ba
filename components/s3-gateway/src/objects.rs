//! Object operations: PutObject, GetObject, HeadObject, DeleteObject.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use s3s::dto::*;
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{S3Request, S3Response, S3Result, StdError, s3_error};

use crate::access::DeniedKeys;
use crate::bindings::tessera::node::objects::{self, ByteRange, ObjectInfo, PutOptions, Span, WriteCondition};
use crate::errors::{body_error, read_error, s3_error, version_header};
use crate::headers;

pub fn timestamp(millis: u64) -> Timestamp {
    Timestamp::from(SystemTime::UNIX_EPOCH + Duration::from_millis(millis))
}

fn metadata(info: &ObjectInfo) -> Option<Metadata> {
    (!info.user_metadata.is_empty()).then(|| info.user_metadata.iter().cloned().collect())
}

pub async fn put_object(request: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
    let trailers = request.trailing_headers.clone();
    let mut checksums = headers::BodyChecksums::new(
        Checksum {
            checksum_crc32: request.input.checksum_crc32.clone(),
            checksum_crc32c: request.input.checksum_crc32c.clone(),
            checksum_crc64nvme: request.input.checksum_crc64nvme.clone(),
            checksum_sha1: request.input.checksum_sha1.clone(),
            checksum_sha256: request.input.checksum_sha256.clone(),
            ..Default::default()
        },
        request.input.checksum_algorithm.as_ref(),
        &request.headers,
    )?;
    let replica = crate::replication::replica_source(&request.headers)?;
    let input = request.input;
    let condition = match (&input.if_none_match, &input.if_match) {
        (Some(ETagCondition::Any), None) => Some(WriteCondition::IfNoneMatchAny),
        (None, Some(ETagCondition::ETag(etag))) => Some(WriteCondition::IfMatch(etag.value().to_owned())),
        (None, None) => None,
        _ => return Err(s3_error!(NotImplemented, "Conditional writes take If-None-Match: * or If-Match: \"etag\"")),
    };
    let content_md5 = content_md5(input.content_md5.as_deref())?;
    let mut user_metadata: Vec<(String, String)> = input.metadata.unwrap_or_default().into_iter().collect();
    user_metadata.sort();
    let size = declared_size(input.content_length)?;
    let stored_headers = headers::stored(
        input.cache_control,
        input.content_disposition,
        input.content_encoding,
        input.content_language,
        input.expires.as_ref(),
    );
    let options = PutOptions {
        content_type: input.content_type,
        user_metadata,
        headers: stored_headers,
        checksums: Vec::new(),
        condition,
        tags: crate::tagging::parse_header(input.tagging.as_deref())?,
        size,
        content_md5,
        replica,
    };
    let upload = objects::begin_put(&input.bucket, &input.key, &options).map_err(s3_error)?;
    stream_body(input.body, &upload, &mut checksums).await?;
    // Checked before the commit: a mismatch leaves nothing behind.
    upload.set_checksums(&checksums.finish(trailers.as_ref())?);
    let info = upload.finish().map_err(s3_error)?;
    crate::replication::after_write(&input.bucket, info.replication_task.as_deref());
    let checksum = headers::checksum_of(&info);
    Ok(S3Response::new(PutObjectOutput {
        version_id: version_header(&info.version_id),
        e_tag: Some(ETag::Strong(info.etag)),
        checksum_crc32: checksum.checksum_crc32,
        checksum_crc32c: checksum.checksum_crc32c,
        checksum_crc64nvme: checksum.checksum_crc64nvme,
        checksum_sha1: checksum.checksum_sha1,
        checksum_sha256: checksum.checksum_sha256,
        ..Default::default()
    }))
}

/// `Content-MD5`, decoded: 16 raw bytes, or InvalidDigest.
pub fn content_md5(encoded: Option<&str>) -> S3Result<Option<Vec<u8>>> {
    let Some(encoded) = encoded else { return Ok(None) };
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .filter(|digest| digest.len() == 16)
        .map(Some)
        .ok_or_else(|| s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid."))
}

/// `Content-Length` as the object layer takes it (checked at `finish`).
pub fn declared_size(length: Option<i64>) -> S3Result<Option<u64>> {
    match length {
        Some(length) if length < 0 => Err(s3_error!(InvalidArgument, "negative Content-Length")),
        length => Ok(length.map(|length| length as u64)),
    }
}

/// Streams a request body into an upload, hashing it for its checksums on the way. On any
/// error the caller drops the upload, which aborts it: nothing partial remains.
pub async fn stream_body(body: Option<StreamingBlob>, upload: &objects::Upload, checksums: &mut headers::BodyChecksums) -> S3Result<()> {
    let Some(mut body) = body else { return Ok(()) };
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|error| body_error(error.as_ref()))?;
        if !chunk.is_empty() {
            checksums.update(&chunk);
            upload.write(&chunk).map_err(s3_error)?;
        }
    }
    Ok(())
}

pub fn get_object(request: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
    let input = request.input;
    let range = input.range.map(|range| match range {
        Range::Int { first, last } => ByteRange::Span(Span { first, last }),
        Range::Suffix { length } => ByteRange::Suffix(length),
    });
    let version_id = input.version_id.as_deref();
    let (info, content_range, download) =
        objects::get(&input.bucket, &input.key, version_id, range).map_err(|error| read_error(error, version_id.is_some()))?;
    headers::check_read_conditions(
        &info,
        input.if_match.as_ref(),
        input.if_none_match.as_ref(),
        input.if_modified_since.as_ref(),
        input.if_unmodified_since.as_ref(),
    )?;
    let length = content_range.map_or(info.size, |range| range.length);
    let body = DownloadStream { download: Some(download), remaining: length };
    // Checksums describe the whole object: a range gets none (as S3).
    let with_checksums = content_range.is_none() && input.checksum_mode.as_ref().is_some_and(|mode| mode.as_str() == ChecksumMode::ENABLED);
    let checksum = if with_checksums { headers::checksum_of(&info) } else { Checksum::default() };
    Ok(S3Response::new(GetObjectOutput {
        body: Some(StreamingBlob::new(body)),
        content_length: Some(length as i64),
        content_range: content_range.map(|range| format!("bytes {}-{}/{}", range.start, range.start + range.length - 1, info.size)),
        accept_ranges: Some("bytes".into()),
        // `response-*` query parameters override what is stored.
        content_type: input.response_content_type.or_else(|| info.content_type.clone()),
        content_disposition: input.response_content_disposition.or_else(|| headers::get(&info, headers::CONTENT_DISPOSITION)),
        content_encoding: input.response_content_encoding.or_else(|| headers::get(&info, headers::CONTENT_ENCODING)),
        content_language: input.response_content_language.or_else(|| headers::get(&info, headers::CONTENT_LANGUAGE)),
        cache_control: input.response_cache_control.or_else(|| headers::get(&info, headers::CACHE_CONTROL)),
        expires: input.response_expires.or_else(|| headers::expires(&info)),
        e_tag: Some(ETag::Strong(info.etag.clone())),
        last_modified: Some(timestamp(info.modified_ms)),
        metadata: metadata(&info),
        tag_count: (!info.tags.is_empty()).then_some(info.tags.len() as i32),
        version_id: version_header(&info.version_id),
        checksum_crc32: checksum.checksum_crc32,
        checksum_crc32c: checksum.checksum_crc32c,
        checksum_crc64nvme: checksum.checksum_crc64nvme,
        checksum_sha1: checksum.checksum_sha1,
        checksum_sha256: checksum.checksum_sha256,
        checksum_type: with_checksums.then(|| headers::checksum_type(&info)).flatten(),
        replication_status: crate::replication::status_header(info.replication_status),
        ..Default::default()
    }))
}

pub fn head_object(request: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
    let input = request.input;
    let version_id = input.version_id.as_deref();
    let info = objects::head(&input.bucket, &input.key, version_id).map_err(|error| read_error(error, version_id.is_some()))?;
    headers::check_read_conditions(
        &info,
        input.if_match.as_ref(),
        input.if_none_match.as_ref(),
        input.if_modified_since.as_ref(),
        input.if_unmodified_since.as_ref(),
    )?;
    let with_checksums = input.checksum_mode.as_ref().is_some_and(|mode| mode.as_str() == ChecksumMode::ENABLED);
    let checksum = if with_checksums { headers::checksum_of(&info) } else { Checksum::default() };
    Ok(S3Response::new(HeadObjectOutput {
        content_length: Some(info.size as i64),
        accept_ranges: Some("bytes".into()),
        content_type: input.response_content_type.or_else(|| info.content_type.clone()),
        content_disposition: input.response_content_disposition.or_else(|| headers::get(&info, headers::CONTENT_DISPOSITION)),
        content_encoding: input.response_content_encoding.or_else(|| headers::get(&info, headers::CONTENT_ENCODING)),
        content_language: input.response_content_language.or_else(|| headers::get(&info, headers::CONTENT_LANGUAGE)),
        cache_control: input.response_cache_control.or_else(|| headers::get(&info, headers::CACHE_CONTROL)),
        expires: input.response_expires.or_else(|| headers::expires(&info)),
        e_tag: Some(ETag::Strong(info.etag.clone())),
        last_modified: Some(timestamp(info.modified_ms)),
        metadata: metadata(&info),
        version_id: version_header(&info.version_id),
        checksum_crc32: checksum.checksum_crc32,
        checksum_crc32c: checksum.checksum_crc32c,
        checksum_crc64nvme: checksum.checksum_crc64nvme,
        checksum_sha1: checksum.checksum_sha1,
        checksum_sha256: checksum.checksum_sha256,
        checksum_type: with_checksums.then(|| headers::checksum_type(&info)).flatten(),
        replication_status: crate::replication::status_header(info.replication_status),
        ..Default::default()
    }))
}

pub fn delete_object(request: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
    let replica = crate::replication::replica_source(&request.headers)?;
    let input = request.input;
    let result = match (&replica, &input.version_id) {
        (Some(source), None) => crate::replication::replicate_delete(&input.bucket, &input.key, source),
        _ => objects::delete(&input.bucket, &input.key, input.version_id.as_deref()),
    }
    .map_err(s3_error)?;
    crate::replication::after_write(&input.bucket, result.replication_task.as_deref());
    Ok(S3Response::with_status(
        DeleteObjectOutput {
            delete_marker: result.delete_marker.then_some(true),
            version_id: result.version_id.as_deref().and_then(version_header),
            ..Default::default()
        },
        http::StatusCode::NO_CONTENT,
    ))
}

/// CopyObject: the source streams through the gateway into a new upload, one chunk (≤ 1 MiB) at
/// a time, so a copy costs no more memory than a GET and a PUT.
pub fn copy_object(request: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
    let input = request.input;
    let (source_bucket, source_key, source_version) = match &input.copy_source {
        CopySource::Bucket { bucket, key, version_id } => (bucket.to_string(), key.to_string(), version_id.as_deref().map(str::to_owned)),
        _ => {
            return Err(s3_error!(NotImplemented, "Access point copy sources are not supported"));
        }
    };
    let replace = match input.metadata_directive.as_ref().map(MetadataDirective::as_str) {
        None | Some(MetadataDirective::COPY) => false,
        Some(MetadataDirective::REPLACE) => true,
        Some(other) => {
            return Err(s3_error!(InvalidArgument, "Unknown metadata directive {other}"));
        }
    };
    if !replace && source_bucket == input.bucket && source_key == input.key {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata"
        ));
    }
    let (source, _, download) = objects::get(&source_bucket, &source_key, source_version.as_deref(), None)
        .map_err(|error| read_error(error, source_version.is_some()))?;
    check_copy_conditions(
        &source,
        input.copy_source_if_match.as_ref(),
        input.copy_source_if_none_match.as_ref(),
        input.copy_source_if_modified_since.as_ref(),
        input.copy_source_if_unmodified_since.as_ref(),
    )?;
    // Tags follow x-amz-tagging-directive, independently of the metadata directive (as S3).
    let tags = match input.tagging_directive.as_ref().map(TaggingDirective::as_str) {
        None | Some(TaggingDirective::COPY) => source.tags.clone(),
        Some(TaggingDirective::REPLACE) => crate::tagging::parse_header(input.tagging.as_deref())?,
        Some(other) => return Err(s3_error!(InvalidArgument, "Unknown tagging directive {other}")),
    };
    let copied_checksums = whole_object_checksums(&source);
    let options = if replace {
        let mut user_metadata: Vec<(String, String)> = input.metadata.unwrap_or_default().into_iter().collect();
        user_metadata.sort();
        let stored_headers = headers::stored(
            input.cache_control,
            input.content_disposition,
            input.content_encoding,
            input.content_language,
            input.expires.as_ref(),
        );
        PutOptions {
            content_type: input.content_type,
            user_metadata,
            headers: stored_headers,
            checksums: copied_checksums.clone(),
            condition: None,
            tags,
            size: Some(source.size),
            content_md5: None,
            replica: None,
        }
    } else {
        PutOptions {
            content_type: source.content_type,
            user_metadata: source.user_metadata,
            headers: source.headers,
            checksums: copied_checksums.clone(),
            condition: None,
            tags,
            size: Some(source.size),
            content_md5: None,
            replica: None,
        }
    };
    let upload = objects::begin_put(&input.bucket, &input.key, &options).map_err(s3_error)?;
    while let Some(chunk) = download.read().map_err(s3_error)? {
        upload.write(&chunk).map_err(s3_error)?;
    }
    let copied = upload.finish().map_err(s3_error)?;
    crate::replication::after_write(&input.bucket, copied.replication_task.as_deref());
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(ETag::Strong(copied.etag)),
            last_modified: Some(timestamp(copied.modified_ms)),
            ..Default::default()
        }),
        version_id: version_header(&copied.version_id),
        copy_source_version_id: version_header(&source.version_id),
        ..Default::default()
    }))
}

/// The checksums a copy can carry over: a composite one ("…-N") describes the source's parts,
/// which a copy (a single upload) does not have.
fn whole_object_checksums(source: &ObjectInfo) -> Vec<(String, String)> {
    source.checksums.iter().filter(|(_, value)| !value.contains('-')).cloned().collect()
}

/// `x-amz-copy-source-if-*` of CopyObject and UploadPartCopy, against the source (as S3: a
/// true If-Match overrides a false If-Unmodified-Since, a false If-None-Match overrides a true
/// If-Modified-Since). Any failed condition is 412 PreconditionFailed.
pub fn check_copy_conditions(
    source: &ObjectInfo,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let etag = ETag::Strong(source.etag.clone());
    let matches = |condition: &ETagCondition| match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(wanted) => wanted.value() == etag.value(),
    };
    let modified_s = (source.modified_ms / 1000) as i64;
    let seconds = |time: &Timestamp| time::OffsetDateTime::from(time.clone()).unix_timestamp();
    let failed = match (if_match, if_unmodified_since) {
        (Some(condition), _) => !matches(condition),
        (None, Some(since)) => modified_s > seconds(since),
        (None, None) => false,
    } || match (if_none_match, if_modified_since) {
        (Some(condition), _) => matches(condition),
        (None, Some(since)) => modified_s <= seconds(since),
        (None, None) => false,
    };
    if failed {
        return Err(s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold"));
    }
    Ok(())
}

/// Most keys one DeleteObjects request may name (as S3).
const MAX_DELETE_KEYS: usize = 1000;

pub fn delete_objects(request: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let denied = request.extensions.get::<DeniedKeys>().cloned().unwrap_or_default();
    let input = request.input;
    let keys = input.delete.objects;
    if keys.len() > MAX_DELETE_KEYS {
        return Err(s3_error!(MalformedXML, "DeleteObjects names at most {MAX_DELETE_KEYS} keys"));
    }
    objects::head_bucket(&input.bucket).map_err(s3_error)?;
    let quiet = input.delete.quiet.unwrap_or(false);
    let (mut deleted, mut errors) = (Vec::new(), Vec::new());
    for identifier in keys {
        // Keys the caller may not delete fail on their own, as S3 reports them.
        let outcome = if denied.0.contains(&identifier.key) {
            Err(s3_error!(AccessDenied, "Access Denied"))
        } else {
            objects::delete(&input.bucket, &identifier.key, identifier.version_id.as_deref()).map_err(s3_error)
        };
        if let Ok(result) = &outcome {
            crate::replication::after_write(&input.bucket, result.replication_task.as_deref());
        }
        match outcome {
            Ok(_) if quiet => {}
            Ok(result) => {
                let version_id = result.version_id.as_deref().and_then(version_header);
                let (marker_version, version_id) =
                    if result.delete_marker && identifier.version_id.is_none() { (version_id, None) } else { (None, version_id) };
                deleted.push(DeletedObject {
                    key: Some(identifier.key),
                    delete_marker: result.delete_marker.then_some(true),
                    delete_marker_version_id: marker_version,
                    version_id,
                })
            }
            // Each key fails on its own: the others are still deleted.
            Err(error) => {
                errors.push(Error {
                    code: Some(error.code().as_str().to_owned()),
                    key: Some(identifier.key),
                    message: error.message().map(str::to_owned),
                    ..Default::default()
                });
            }
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput { deleted: Some(deleted), errors: Some(errors), ..Default::default() }))
}

/// An object's bytes as a stream: each poll reads the next chunk (≤ 1 MiB) from the object
/// layer. The calls are synchronous imports, so the stream is always ready.
struct DownloadStream {
    download: Option<objects::Download>,
    remaining: u64,
}

impl futures::Stream for DownloadStream {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(download) = &self.download else {
            return Poll::Ready(None);
        };
        match download.read() {
            Ok(Some(chunk)) => {
                self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
                Poll::Ready(Some(Ok(Bytes::from(chunk))))
            }
            Ok(None) => {
                self.download = None;
                Poll::Ready(None)
            }
            Err(error) => {
                // The status line is gone already: failing the body aborts the connection, so
                // the client sees a short read rather than wrong bytes.
                self.download = None;
                Poll::Ready(Some(Err(format!("reading the object failed: {error:?}").into())))
            }
        }
    }
}

impl ByteStream for DownloadStream {
    fn remaining_length(&self) -> RemainingLength {
        // usize is 32 bits in Wasm: objects past 4 GiB have a length it cannot say.
        usize::try_from(self.remaining).map_or_else(|_| RemainingLength::unknown(), RemainingLength::new_exact)
    }
}
