//! The middleware imports and exports the same interface, and wit-bindgen gives each side its
//! own Rust types: `To` moves a value across, field by field (the macros list the fields once).

use crate::bindings::exports::tessera::node::objects as ours;
use crate::bindings::tessera::node::objects as inner;

pub trait To<T> {
    fn to(self) -> T;
}

macro_rules! same {
    ($($type:ty),*) => { $(impl To<$type> for $type { fn to(self) -> $type { self } })* };
}
same!(String, u8, u32, u64, bool);

impl<A: To<B>, B> To<Vec<B>> for Vec<A> {
    fn to(self) -> Vec<B> {
        self.into_iter().map(To::to).collect()
    }
}

impl<A: To<B>, B> To<Option<B>> for Option<A> {
    fn to(self) -> Option<B> {
        self.map(To::to)
    }
}

impl<A: To<C>, B: To<D>, C, D> To<(C, D)> for (A, B) {
    fn to(self) -> (C, D) {
        (self.0.to(), self.1.to())
    }
}

impl<A: To<B>, B, E: To<F>, F> To<Result<B, F>> for Result<A, E> {
    fn to(self) -> Result<B, F> {
        self.map(To::to).map_err(To::to)
    }
}

/// A record both ways.
macro_rules! record {
    ($name:ident { $($field:ident),* $(,)? }) => {
        impl To<ours::$name> for inner::$name {
            fn to(self) -> ours::$name { ours::$name { $($field: self.$field.to()),* } }
        }
        impl To<inner::$name> for ours::$name {
            fn to(self) -> inner::$name { inner::$name { $($field: self.$field.to()),* } }
        }
    };
}

/// A variant or enum both ways: cases without payload, then cases with one.
macro_rules! variant {
    ($name:ident { $($unit:ident),* ; $($case:ident),* $(,)? }) => {
        impl To<ours::$name> for inner::$name {
            fn to(self) -> ours::$name {
                match self {
                    $(inner::$name::$unit => ours::$name::$unit,)*
                    $(inner::$name::$case(value) => ours::$name::$case(value.to()),)*
                }
            }
        }
        impl To<inner::$name> for ours::$name {
            fn to(self) -> inner::$name {
                match self {
                    $(ours::$name::$unit => inner::$name::$unit,)*
                    $(ours::$name::$case(value) => inner::$name::$case(value.to()),)*
                }
            }
        }
    };
}

variant!(ObjectError {
    NoSuchBucket, NoSuchKey, BucketExists, BucketNotEmpty, KeyTooLong, InvalidRange, MetadataTooLarge, EntityTooLarge,
    IncompleteBody, BadDigest, NoSuchUpload, InvalidPartOrder, EntityTooSmall, PreconditionFailed, NoSuchTagSet, NoSuchVersion;
    InvalidBucketName, InvalidKey, InvalidArgument, InsufficientQuorum, Busy, InvalidPart, InvalidTag, DeleteMarker, Internal,
});
variant!(ReplicationStatus { Pending, Completed, Failed, Replica; });
variant!(VersioningState { Unversioned, Enabled, Suspended; });
variant!(WriteCondition { IfNoneMatchAny; IfMatch });
variant!(ByteRange { ; Span, Suffix });
record!(BucketInfo { name, created_ms });
record!(ObjectInfo {
    bucket,
    key,
    size,
    etag,
    modified_ms,
    content_type,
    user_metadata,
    headers,
    checksums,
    tags,
    version_id,
    replication_status,
    replication_task,
});
record!(ReplicaSource { version_id, modified_ms });
record!(PutOptions { content_type, user_metadata, headers, checksums, condition, tags, size, content_md5, replica });
record!(Span { first, last });
record!(ContentRange { start, length });
record!(ListQuery { prefix, delimiter, after, max_keys });
record!(ListPage { objects, common_prefixes, is_truncated, next_after });
record!(MultipartUpload { key, upload_id, initiated_ms });
record!(UploadsPage { uploads, common_prefixes, is_truncated, next_key_marker, next_upload_id_marker });
record!(UploadsQuery { prefix, delimiter, key_marker, upload_id_marker, max_uploads });
record!(PartInfo { number, etag, size, modified_ms, checksums });
record!(PartsPage { parts, is_truncated, next_part_number_marker, checksum_algorithm });
record!(DeleteResult { version_id, delete_marker, replication_task });
record!(VersionsQuery { prefix, delimiter, key_marker, version_id_marker, max_keys });
record!(VersionEntry { info, is_latest, is_delete_marker });
record!(VersionsPage { versions, common_prefixes, is_truncated, next_key_marker, next_version_id_marker });
record!(LifecycleRule {
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
});
record!(ReplicationTask {
    id,
    bucket,
    key,
    version_id,
    modified_ms,
    is_delete,
    enqueued_ms,
    attempts,
    next_attempt_ms,
    last_error,
    done_targets,
});
