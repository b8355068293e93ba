//! Listing: ListObjectsV2 and ListObjects (V1), over one query to the object layer.

use base64::Engine as _;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::bindings::tessera::node::objects::{self, ListPage, ListQuery, VersionsQuery};
use crate::errors::s3_error;
use crate::objects::timestamp;

/// Most keys per page, as S3.
const MAX_KEYS: i32 = 1000;

/// One page in S3's terms: what both list versions return, before their own fields.
struct Listing {
    page: ListPage,
    contents: Vec<Object>,
    common_prefixes: Vec<CommonPrefix>,
    max_keys: i32,
    url_encoded: bool,
}

impl Listing {
    fn encode(&self, text: &str) -> String {
        encode_name(self.url_encoded, text)
    }
}

/// A key, prefix or delimiter as the response carries it.
fn encode_name(url_encoded: bool, text: &str) -> String {
    if url_encoded { url_encode(text) } else { text.to_owned() }
}

fn list(
    bucket: &str,
    prefix: Option<&str>,
    delimiter: Option<&str>,
    after: String,
    max_keys: Option<i32>,
    encoding_type: Option<&EncodingType>,
) -> S3Result<Listing> {
    let max_keys = max_keys.unwrap_or(MAX_KEYS);
    if max_keys < 0 {
        return Err(s3_error!(InvalidArgument, "max-keys must be between 0 and {MAX_KEYS}"));
    }
    let url_encoded = match encoding_type {
        None => false,
        Some(encoding) if encoding.as_str() == EncodingType::URL => true,
        Some(_) => {
            return Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request"));
        }
    };
    let query = ListQuery {
        prefix: prefix.unwrap_or_default().to_owned(),
        delimiter: delimiter.unwrap_or_default().to_owned(),
        after,
        max_keys: max_keys.min(MAX_KEYS) as u32,
    };
    let page = objects::list_objects(bucket, &query).map_err(s3_error)?;
    let encode = |text: &str| encode_name(url_encoded, text);
    let contents = page
        .objects
        .iter()
        .map(|info| Object {
            key: Some(encode(&info.key)),
            e_tag: Some(ETag::Strong(info.etag.clone())),
            last_modified: Some(timestamp(info.modified_ms)),
            size: Some(info.size as i64),
            storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
            ..Default::default()
        })
        .collect();
    let common_prefixes = page.common_prefixes.iter().map(|prefix| CommonPrefix { prefix: Some(encode(prefix)) }).collect();
    Ok(Listing { page, contents, common_prefixes, max_keys: max_keys.min(MAX_KEYS), url_encoded })
}

pub fn list_objects_v2(request: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
    let input = request.input;
    // The continuation token is the last key (or common prefix) returned, base64-encoded so
    // that clients treat it as opaque; it takes precedence over start-after.
    let after = match &input.continuation_token {
        Some(token) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))?,
        None => input.start_after.clone().unwrap_or_default(),
    };
    let listing =
        list(&input.bucket, input.prefix.as_deref(), input.delimiter.as_deref(), after, input.max_keys, input.encoding_type.as_ref())?;
    let key_count = (listing.contents.len() + listing.common_prefixes.len()) as i32;
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(listing.encode(input.prefix.as_deref().unwrap_or_default())),
        delimiter: input.delimiter.as_deref().map(|delimiter| listing.encode(delimiter)),
        start_after: input.start_after.as_deref().map(|start| listing.encode(start)),
        max_keys: Some(listing.max_keys),
        key_count: Some(key_count),
        continuation_token: input.continuation_token,
        is_truncated: Some(listing.page.is_truncated),
        next_continuation_token: listing
            .page
            .next_after
            .clone()
            .filter(|_| listing.page.is_truncated)
            .map(|after| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(after)),
        contents: Some(listing.contents),
        common_prefixes: Some(listing.common_prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

pub fn list_objects(request: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
    let input = request.input;
    let listing = list(
        &input.bucket,
        input.prefix.as_deref(),
        input.delimiter.as_deref(),
        input.marker.clone().unwrap_or_default(),
        input.max_keys,
        input.encoding_type.as_ref(),
    )?;
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(listing.encode(input.prefix.as_deref().unwrap_or_default())),
        delimiter: input.delimiter.as_deref().map(|delimiter| listing.encode(delimiter)),
        marker: Some(listing.encode(input.marker.as_deref().unwrap_or_default())),
        max_keys: Some(listing.max_keys),
        is_truncated: Some(listing.page.is_truncated),
        // V1 clients continue from the last key returned, or from this marker.
        next_marker: listing.page.next_after.clone().filter(|_| listing.page.is_truncated).map(|after| listing.encode(&after)),
        contents: Some(listing.contents),
        common_prefixes: Some(listing.common_prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

/// Percent-encodes everything but unreserved characters and '/', as S3 does for
/// `encoding-type=url` (clients decode with unquote_plus, so '+' must be encoded too).
fn url_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// ListObjectVersions: each key's versions newest first, objects and delete markers apart (as
/// the S3 response carries them), paged by key and version id.
pub fn list_object_versions(request: S3Request<ListObjectVersionsInput>) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let input = request.input;
    let max_keys = input.max_keys.unwrap_or(MAX_KEYS);
    if max_keys < 0 {
        return Err(s3_error!(InvalidArgument, "max-keys must be between 0 and {MAX_KEYS}"));
    }
    let url_encoded = match &input.encoding_type {
        None => false,
        Some(encoding) if encoding.as_str() == EncodingType::URL => true,
        Some(_) => return Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request")),
    };
    let query = VersionsQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().unwrap_or_default(),
        key_marker: input.key_marker.clone().unwrap_or_default(),
        version_id_marker: input.version_id_marker.clone().unwrap_or_default(),
        max_keys: max_keys.min(MAX_KEYS) as u32,
    };
    let page = objects::list_object_versions(&input.bucket, &query).map_err(s3_error)?;
    let encode = |text: &str| encode_name(url_encoded, text);
    let (mut versions, mut delete_markers) = (Vec::new(), Vec::new());
    for entry in &page.versions {
        let info = &entry.info;
        if entry.is_delete_marker {
            delete_markers.push(DeleteMarkerEntry {
                is_latest: Some(entry.is_latest),
                key: Some(encode(&info.key)),
                last_modified: Some(timestamp(info.modified_ms)),
                version_id: Some(info.version_id.clone()),
                ..Default::default()
            });
        } else {
            versions.push(ObjectVersion {
                e_tag: Some(ETag::Strong(info.etag.clone())),
                is_latest: Some(entry.is_latest),
                key: Some(encode(&info.key)),
                last_modified: Some(timestamp(info.modified_ms)),
                size: Some(info.size as i64),
                storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                version_id: Some(info.version_id.clone()),
                ..Default::default()
            });
        }
    }
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: Some(encode(input.prefix.as_deref().unwrap_or_default())),
        delimiter: input.delimiter.as_deref().map(encode),
        key_marker: Some(encode(input.key_marker.as_deref().unwrap_or_default())),
        version_id_marker: Some(input.version_id_marker.clone().unwrap_or_default()),
        max_keys: Some(max_keys.min(MAX_KEYS)),
        is_truncated: Some(page.is_truncated),
        next_key_marker: page.next_key_marker.as_deref().map(encode),
        next_version_id_marker: page.next_version_id_marker,
        versions: Some(versions),
        delete_markers: Some(delete_markers),
        common_prefixes: Some(page.common_prefixes.iter().map(|prefix| CommonPrefix { prefix: Some(encode(prefix)) }).collect()),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}
