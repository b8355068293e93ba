//! The object layer's errors. Each maps onto one case of the WIT `object-error` (and so onto
//! one S3 error at the gateway); drive and erasure failures are folded in here.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ObjectError {
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("no such key")]
    NoSuchKey,
    #[error("bucket already exists")]
    BucketExists,
    #[error("bucket not empty")]
    BucketNotEmpty,
    #[error("invalid bucket name: {0}")]
    InvalidBucketName(String),
    #[error("key longer than 1024 bytes")]
    KeyTooLong,
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("range not satisfiable")]
    InvalidRange,
    #[error("user metadata over 2 KiB")]
    MetadataTooLarge,
    #[error("object too large")]
    EntityTooLarge,
    #[error("body shorter than announced")]
    IncompleteBody,
    #[error("content does not match Content-MD5")]
    BadDigest,
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Too few drives answered; the operation left nothing visible behind.
    #[error("insufficient quorum: {0}")]
    InsufficientQuorum(String),
    #[error("invalid tag: {0}")]
    InvalidTag(String),
    #[error("no tag set")]
    NoSuchTagSet,
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("no such version")]
    NoSuchVersion,
    /// The version asked for (or the latest) is a delete marker: its id.
    #[error("delete marker {0}")]
    DeleteMarker(String),
    #[error("no such upload")]
    NoSuchUpload,
    #[error("invalid part: {0}")]
    InvalidPart(String),
    #[error("parts not in ascending order")]
    InvalidPartOrder,
    #[error("a part other than the last is under 5 MiB")]
    EntityTooSmall,
    /// Another commit on the same key held its lock for too long.
    #[error("busy: {0}")]
    Busy(String),
    #[error("internal error: {0}")]
    Internal(String),
}
