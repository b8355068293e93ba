//! Put/GetBucketVersioning: the bucket's versioning state, kept by the object layer.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::bindings::tessera::node::objects::{self, VersioningState};
use crate::errors::s3_error;

pub fn put_bucket_versioning(request: S3Request<PutBucketVersioningInput>) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let input = &request.input;
    let state = match input.versioning_configuration.status.as_ref().map(BucketVersioningStatus::as_str) {
        Some(BucketVersioningStatus::ENABLED) => VersioningState::Enabled,
        Some(BucketVersioningStatus::SUSPENDED) => VersioningState::Suspended,
        _ => return Err(s3_error!(MalformedXML, "Status must be Enabled or Suspended")),
    };
    if input.versioning_configuration.mfa_delete.as_ref().is_some_and(|mfa| mfa.as_str() == MFADelete::ENABLED) {
        return Err(s3_error!(NotImplemented, "MFA delete is not supported"));
    }
    objects::set_bucket_versioning(&input.bucket, state).map_err(s3_error)?;
    if !crate::replication::from_peer_site(&request.headers) {
        crate::replication::after_bucket_change(&input.bucket, &request.headers);
    }
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}

pub fn get_bucket_versioning(request: S3Request<GetBucketVersioningInput>) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let status = match objects::get_bucket_versioning(&request.input.bucket).map_err(s3_error)? {
        VersioningState::Unversioned => None,
        VersioningState::Enabled => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED)),
        VersioningState::Suspended => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED)),
    };
    Ok(S3Response::new(GetBucketVersioningOutput { status, ..Default::default() }))
}
