//! One place that turns object-layer errors into S3 errors (code, status, message).

use s3s::{S3Error, S3ErrorCode, s3_error};

use crate::bindings::tessera::node::objects::ObjectError;

pub fn s3_error(error: ObjectError) -> S3Error {
    match error {
        ObjectError::NoSuchBucket => s3_error!(NoSuchBucket, "The specified bucket does not exist"),
        ObjectError::NoSuchKey => s3_error!(NoSuchKey, "The specified key does not exist."),
        ObjectError::BucketExists => {
            s3_error!(BucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it.")
        }
        ObjectError::BucketNotEmpty => s3_error!(BucketNotEmpty, "The bucket you tried to delete is not empty"),
        ObjectError::InvalidBucketName(why) => s3_error!(InvalidBucketName, "The specified bucket is not valid: {why}"),
        ObjectError::KeyTooLong => s3_error!(KeyTooLongError, "Your key is too long"),
        ObjectError::InvalidKey(why) => {
            s3_error!(InvalidArgument, "Object key not supported: {why}")
        }
        ObjectError::InvalidRange => {
            s3_error!(InvalidRange, "The requested range is not satisfiable")
        }
        ObjectError::MetadataTooLarge => {
            let mut error = s3_error!(MetadataTooLarge, "Your metadata headers exceed the maximum allowed metadata size (2 KiB)");
            error.set_status_code(http::StatusCode::BAD_REQUEST);
            error
        }
        ObjectError::EntityTooLarge => s3_error!(EntityTooLarge, "Your proposed upload exceeds the maximum allowed object size."),
        ObjectError::IncompleteBody => {
            s3_error!(IncompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header")
        }
        ObjectError::BadDigest => s3_error!(BadDigest, "The Content-MD5 you specified did not match what we received."),
        ObjectError::InvalidArgument(why) => s3_error!(InvalidArgument, "{why}"),
        ObjectError::InsufficientQuorum(why) => {
            s3_error!(ServiceUnavailable, "Not enough drives are online to serve this request: {why}")
        }
        ObjectError::InvalidTag(why) => s3_error!(InvalidTag, "{why}"),
        ObjectError::NoSuchTagSet => s3_error!(NoSuchTagSet, "The TagSet does not exist"),
        ObjectError::NoSuchVersion => s3_error!(NoSuchVersion, "The specified version does not exist."),
        ObjectError::DeleteMarker(version_id) => read_error(ObjectError::DeleteMarker(version_id), false),
        ObjectError::PreconditionFailed => s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold"),
        ObjectError::NoSuchUpload => s3_error!(
            NoSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        ),
        ObjectError::InvalidPart(why) => s3_error!(InvalidPart, "One or more of the specified parts could not be found: {why}"),
        ObjectError::InvalidPartOrder => s3_error!(InvalidPartOrder, "The list of parts was not in ascending order."),
        ObjectError::EntityTooSmall => {
            s3_error!(
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size (5 MiB for every part but the last)."
            )
        }
        ObjectError::Busy(why) => s3_error!(SlowDown, "Please reduce your request rate: {why}"),
        ObjectError::Internal(why) => {
            s3_error!(InternalError, "We encountered an internal error: {why}")
        }
    }
}

/// An error of a read (GET, HEAD, a copy source, tags). A delete marker answers as S3 does:
/// 404 NoSuchKey when it is the latest version, 405 MethodNotAllowed when it was named; both
/// with `x-amz-delete-marker: true` and its version id.
pub fn read_error(error: ObjectError, version_named: bool) -> S3Error {
    let ObjectError::DeleteMarker(version_id) = error else { return s3_error(error) };
    let mut error = if version_named {
        s3_error!(MethodNotAllowed, "The specified method is not allowed against this resource.")
    } else {
        s3_error!(NoSuchKey, "The specified key does not exist.")
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    if let Ok(value) = http::HeaderValue::from_str(&version_id) {
        headers.insert("x-amz-version-id", value);
    }
    error.set_headers(headers);
    error
}

/// The `x-amz-version-id` to return: none for what an unversioned bucket wrote.
pub fn version_header(version_id: &str) -> Option<String> {
    (!version_id.is_empty() && version_id != "null").then(|| version_id.to_owned())
}

/// An error met while reading a request body: a signature or hash mismatch from s3s, or a
/// broken connection.
pub fn body_error(error: &(dyn std::error::Error + 'static)) -> S3Error {
    let text = error.to_string();
    if text.contains("Sha256Mismatch") {
        let mut error = S3Error::with_message(
            "XAmzContentSHA256Mismatch".parse::<S3ErrorCode>().unwrap_or(S3ErrorCode::BadDigest),
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        error.set_status_code(http::StatusCode::BAD_REQUEST);
        return error;
    }
    if text.contains("Signature") || text.contains("signature") {
        return s3_error!(SignatureDoesNotMatch, "A chunk signature does not match: {text}");
    }
    if text.contains("Incomplete") || text.contains("LengthMismatch") {
        return s3_error!(IncompleteBody, "The request body is incomplete: {text}");
    }
    s3_error!(IncompleteBody, "Reading the request body failed: {text}")
}
