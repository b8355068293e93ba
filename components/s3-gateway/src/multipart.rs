//! Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts,
//! ListMultipartUploads. Parts stream through like a PutObject body; the object layer keeps
//! them as erasure-coded shard files and completes by moving them, not copying.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::bindings::tessera::node::objects::{self, ByteRange, PutOptions, Span, UploadsQuery};
use crate::errors::{read_error, s3_error, version_header};
use crate::objects::timestamp;

/// Page size when the client does not ask (as S3).
const DEFAULT_PAGE: i32 = 1000;

pub fn create_multipart_upload(request: S3Request<CreateMultipartUploadInput>) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let input = request.input;
    let mut user_metadata: Vec<(String, String)> = input.metadata.unwrap_or_default().into_iter().collect();
    user_metadata.sort();
    let stored_headers = crate::headers::stored(
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
        condition: None,
        tags: crate::tagging::parse_header(input.tagging.as_deref())?,
        size: None,
        content_md5: None,
        replica: None,
    };
    if input.checksum_type.as_ref().is_some_and(|kind| kind.as_str() == ChecksumType::FULL_OBJECT) {
        return Err(s3_error!(NotImplemented, "Full-object checksums of multipart uploads are not supported; composite ones are"));
    }
    let algorithm = input.checksum_algorithm.as_ref().map(|algorithm| algorithm.as_str().to_ascii_lowercase());
    // S3 combines CRC64NVME only over the whole object (FULL_OBJECT), never as a composite.
    if algorithm.as_deref() == Some("crc64nvme") {
        return Err(s3_error!(InvalidRequest, "The CRC64NVME checksum algorithm supports only the FULL_OBJECT checksum type"));
    }
    let upload_id = objects::create_multipart_upload(&input.bucket, &input.key, &options, algorithm.as_deref()).map_err(s3_error)?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(upload_id),
        checksum_type: algorithm.is_some().then(|| ChecksumType::from_static(ChecksumType::COMPOSITE)),
        checksum_algorithm: input.checksum_algorithm,
        ..Default::default()
    }))
}

fn part_number(number: i32) -> S3Result<u32> {
    u32::try_from(number)
        .ok()
        .filter(|number| (1..=10_000).contains(number))
        .ok_or_else(|| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))
}

pub async fn upload_part(request: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
    let trailers = request.trailing_headers.clone();
    let mut checksums = crate::headers::BodyChecksums::new(
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
    let input = request.input;
    let number = part_number(input.part_number)?;
    let content_md5 = crate::objects::content_md5(input.content_md5.as_deref())?;
    let size = crate::objects::declared_size(input.content_length)?;
    let upload =
        objects::begin_part(&input.bucket, &input.key, &input.upload_id, number, size, content_md5.as_deref()).map_err(s3_error)?;
    crate::objects::stream_body(input.body, &upload, &mut checksums).await?;
    // A part whose checksum does not match is dropped before it is kept; the checksums of one
    // that does are kept with it, for the object's composite checksum.
    let verified = checksums.finish(trailers.as_ref())?;
    upload.set_checksums(&verified);
    let part = upload.finish().map_err(s3_error)?;
    let checksum = crate::headers::checksum_from(&verified);
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(ETag::Strong(part.etag)),
        checksum_crc32: checksum.checksum_crc32,
        checksum_crc32c: checksum.checksum_crc32c,
        checksum_crc64nvme: checksum.checksum_crc64nvme,
        checksum_sha1: checksum.checksum_sha1,
        checksum_sha256: checksum.checksum_sha256,
        ..Default::default()
    }))
}

/// UploadPartCopy: a range of an existing object streams into a part, one chunk at a time.
pub fn upload_part_copy(request: S3Request<UploadPartCopyInput>) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let input = request.input;
    let number = part_number(input.part_number)?;
    let (source_bucket, source_key, source_version) = match &input.copy_source {
        CopySource::Bucket { bucket, key, version_id } => (bucket.to_string(), key.to_string(), version_id.as_deref().map(str::to_owned)),
        _ => return Err(s3_error!(NotImplemented, "Access point copy sources are not supported")),
    };
    let range = input.copy_source_range.as_deref().map(parse_copy_range).transpose()?;
    let (source, content_range, download) = objects::get(&source_bucket, &source_key, source_version.as_deref(), range)
        .map_err(|error| read_error(error, source_version.is_some()))?;
    crate::objects::check_copy_conditions(
        &source,
        input.copy_source_if_match.as_ref(),
        input.copy_source_if_none_match.as_ref(),
        input.copy_source_if_modified_since.as_ref(),
        input.copy_source_if_unmodified_since.as_ref(),
    )?;
    let length = content_range.map_or(source.size, |range| range.length);
    // A part of an upload created with a checksum algorithm carries that checksum, copied or not.
    let algorithm = objects::list_parts(&input.bucket, &input.key, &input.upload_id, 10_000, 1).map_err(s3_error)?.checksum_algorithm;
    let algorithm = algorithm.map(|name| ChecksumAlgorithm::from(name.to_ascii_uppercase()));
    let mut checksums = crate::headers::BodyChecksums::new(Checksum::default(), algorithm.as_ref(), &http::HeaderMap::new())?;
    let upload = objects::begin_part(&input.bucket, &input.key, &input.upload_id, number, Some(length), None).map_err(s3_error)?;
    while let Some(chunk) = download.read().map_err(s3_error)? {
        checksums.update(&chunk);
        upload.write(&chunk).map_err(s3_error)?;
    }
    let computed = checksums.finish(None)?;
    upload.set_checksums(&computed);
    let part = upload.finish().map_err(s3_error)?;
    let checksum = crate::headers::checksum_from(&computed);
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(ETag::Strong(part.etag)),
            last_modified: Some(timestamp(part.modified_ms)),
            checksum_crc32: checksum.checksum_crc32,
            checksum_crc32c: checksum.checksum_crc32c,
            checksum_crc64nvme: checksum.checksum_crc64nvme,
            checksum_sha1: checksum.checksum_sha1,
            checksum_sha256: checksum.checksum_sha256,
        }),
        ..Default::default()
    }))
}

/// `x-amz-copy-source-range: bytes=first-last` (both required, as S3).
fn parse_copy_range(text: &str) -> S3Result<ByteRange> {
    let invalid = || s3_error!(InvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last");
    let (first, last) = text.strip_prefix("bytes=").and_then(|range| range.split_once('-')).ok_or_else(invalid)?;
    let first: u64 = first.parse().map_err(|_| invalid())?;
    let last: u64 = last.parse().map_err(|_| invalid())?;
    if last < first {
        return Err(invalid());
    }
    Ok(ByteRange::Span(Span { first, last: Some(last) }))
}

pub fn complete_multipart_upload(request: S3Request<CompleteMultipartUploadInput>) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let input = request.input;
    let listed = input.multipart_upload.and_then(|upload| upload.parts).unwrap_or_default();
    let mut parts = Vec::with_capacity(listed.len());
    for part in &listed {
        let number = part.part_number.ok_or_else(|| s3_error!(MalformedXML, "Every part needs a PartNumber"))?;
        let etag = part.e_tag.as_ref().ok_or_else(|| s3_error!(MalformedXML, "Every part needs an ETag"))?;
        parts.push((part_number(number)?, etag.value().to_owned()));
    }
    if parts.is_empty() {
        return Err(s3_error!(MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema"));
    }
    let checksums = composite_checksums(&input.bucket, &input.key, &input.upload_id, &listed)?;
    let info = objects::complete_multipart_upload(&input.bucket, &input.key, &input.upload_id, &parts, &checksums).map_err(s3_error)?;
    crate::replication::after_write(&input.bucket, info.replication_task.as_deref());
    let checksum = crate::headers::checksum_from(&info.checksums);
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        bucket: Some(input.bucket),
        key: Some(input.key),
        e_tag: Some(ETag::Strong(info.etag.clone())),
        version_id: version_header(&info.version_id),
        checksum_type: crate::headers::checksum_type(&info),
        checksum_crc32: checksum.checksum_crc32,
        checksum_crc32c: checksum.checksum_crc32c,
        checksum_crc64nvme: checksum.checksum_crc64nvme,
        checksum_sha1: checksum.checksum_sha1,
        checksum_sha256: checksum.checksum_sha256,
        ..Default::default()
    }))
}

/// The object's checksum when the upload was created with an algorithm: the composite of the
/// listed parts' stored checksums. A part without one, or whose checksum the client lists
/// differently, is an InvalidPart.
fn composite_checksums(bucket: &str, key: &str, upload_id: &str, listed: &[CompletedPart]) -> S3Result<Vec<(String, String)>> {
    let mut stored = Vec::new();
    let mut after = 0;
    let algorithm = loop {
        let page = objects::list_parts(bucket, key, upload_id, after, 1000).map_err(s3_error)?;
        if page.checksum_algorithm.is_none() {
            return Ok(Vec::new());
        }
        after = page.parts.last().map_or(after, |part| part.number);
        stored.extend(page.parts);
        if !page.is_truncated {
            break page.checksum_algorithm.unwrap_or_default();
        }
    };
    let mut values = Vec::with_capacity(listed.len());
    for part in listed {
        let number = part.part_number.unwrap_or_default();
        let found = stored
            .iter()
            .find(|candidate| candidate.number as i32 == number)
            .ok_or_else(|| s3_error!(InvalidPart, "One or more of the specified parts could not be found: part {number}"))?;
        let value = found
            .checksums
            .iter()
            .find(|(name, _)| *name == algorithm)
            .map(|(_, value)| value.as_str())
            .ok_or_else(|| s3_error!(InvalidPart, "part {number} was uploaded without the upload's {algorithm} checksum"))?;
        let client_value = match algorithm.as_str() {
            "crc32" => part.checksum_crc32.as_deref(),
            "crc32c" => part.checksum_crc32c.as_deref(),
            "crc64nvme" => part.checksum_crc64nvme.as_deref(),
            "sha1" => part.checksum_sha1.as_deref(),
            "sha256" => part.checksum_sha256.as_deref(),
            _ => None,
        };
        if client_value.is_some_and(|client_value| client_value != value) {
            return Err(s3_error!(InvalidPart, "the {algorithm} checksum listed for part {number} is not the part's"));
        }
        values.push(value);
    }
    Ok(vec![(algorithm.clone(), crate::headers::composite(&algorithm, &values)?)])
}

pub fn abort_multipart_upload(request: S3Request<AbortMultipartUploadInput>) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = request.input;
    objects::abort_multipart_upload(&input.bucket, &input.key, &input.upload_id).map_err(s3_error)?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

fn page_size(requested: Option<i32>) -> S3Result<u32> {
    match requested {
        Some(size) if size < 0 => Err(s3_error!(InvalidArgument, "The page size must not be negative")),
        Some(size) => Ok(size.min(DEFAULT_PAGE) as u32),
        None => Ok(DEFAULT_PAGE as u32),
    }
}

pub fn list_parts(request: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
    let input = request.input;
    let max_parts = page_size(input.max_parts)?;
    let after =
        u32::try_from(input.part_number_marker.unwrap_or(0)).map_err(|_| s3_error!(InvalidArgument, "Invalid part number marker"))?;
    let page = if max_parts == 0 {
        objects::PartsPage { parts: Vec::new(), is_truncated: false, next_part_number_marker: None, checksum_algorithm: None }
    } else {
        objects::list_parts(&input.bucket, &input.key, &input.upload_id, after, max_parts).map_err(s3_error)?
    };
    let parts = page
        .parts
        .into_iter()
        .map(|part| {
            let checksum = crate::headers::checksum_from(&part.checksums);
            Part {
                part_number: Some(part.number as i32),
                e_tag: Some(ETag::Strong(part.etag)),
                size: Some(part.size as i64),
                last_modified: Some(timestamp(part.modified_ms)),
                checksum_crc32: checksum.checksum_crc32,
                checksum_crc32c: checksum.checksum_crc32c,
                checksum_crc64nvme: checksum.checksum_crc64nvme,
                checksum_sha1: checksum.checksum_sha1,
                checksum_sha256: checksum.checksum_sha256,
            }
        })
        .collect();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        parts: Some(parts),
        is_truncated: Some(page.is_truncated),
        max_parts: Some(max_parts as i32),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: page.next_part_number_marker.map(|number| number as i32),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        checksum_type: page.checksum_algorithm.is_some().then(|| ChecksumType::from_static(ChecksumType::COMPOSITE)),
        checksum_algorithm: page.checksum_algorithm.map(|name| ChecksumAlgorithm::from(name.to_ascii_uppercase())),
        ..Default::default()
    }))
}

pub fn list_multipart_uploads(request: S3Request<ListMultipartUploadsInput>) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = request.input;
    let max_uploads = page_size(input.max_uploads)?;
    let query = UploadsQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().unwrap_or_default(),
        key_marker: input.key_marker.clone().unwrap_or_default(),
        upload_id_marker: input.upload_id_marker.clone().unwrap_or_default(),
        max_uploads: max_uploads.max(1),
    };
    let page = objects::list_multipart_uploads(&input.bucket, &query).map_err(s3_error)?;
    let uploads = page
        .uploads
        .into_iter()
        .map(|upload| MultipartUpload {
            key: Some(upload.key),
            upload_id: Some(upload.upload_id),
            initiated: Some(timestamp(upload.initiated_ms)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        })
        .collect();
    let common_prefixes = page.common_prefixes.into_iter().map(|prefix| CommonPrefix { prefix: Some(prefix) }).collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        uploads: Some(uploads),
        common_prefixes: Some(common_prefixes),
        is_truncated: Some(page.is_truncated),
        next_key_marker: page.next_key_marker,
        next_upload_id_marker: page.next_upload_id_marker,
        key_marker: input.key_marker,
        upload_id_marker: input.upload_id_marker,
        prefix: input.prefix,
        delimiter: input.delimiter,
        max_uploads: Some(max_uploads as i32),
        ..Default::default()
    }))
}
