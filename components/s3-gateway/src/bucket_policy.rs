//! Bucket policies: Put/Get/DeleteBucketPolicy. A policy is validated when it is put (so that
//! `access` only ever evaluates sound ones) and stored as given, as bucket configuration.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::bindings::tessera::node::objects;
use crate::errors::s3_error;

const CONFIG: &str = "policy";
/// S3's limit on a bucket policy.
const MAX_POLICY_BYTES: usize = 20 << 10;

pub fn put_bucket_policy(request: S3Request<PutBucketPolicyInput>) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    let input = request.input;
    if input.policy.len() > MAX_POLICY_BYTES {
        return Err(s3_error!(MalformedPolicy, "Policies must be at most {MAX_POLICY_BYTES} bytes"));
    }
    policy::parse(input.policy.as_bytes(), &policy::Kind::Bucket(input.bucket.clone()))
        .map_err(|why| s3_error!(MalformedPolicy, "{why}"))?;
    objects::set_bucket_config(&input.bucket, CONFIG, Some(input.policy.as_bytes())).map_err(s3_error)?;
    Ok(S3Response::with_status(PutBucketPolicyOutput::default(), http::StatusCode::NO_CONTENT))
}

pub fn get_bucket_policy(request: S3Request<GetBucketPolicyInput>) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    let bucket = request.input.bucket;
    let policy = objects::get_bucket_config(&bucket, CONFIG)
        .map_err(s3_error)?
        .ok_or_else(|| s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist"))?;
    let policy = String::from_utf8(policy).map_err(|_| s3_error!(InternalError, "the stored policy is not UTF-8"))?;
    Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
}

pub fn delete_bucket_policy(request: S3Request<DeleteBucketPolicyInput>) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    objects::set_bucket_config(&request.input.bucket, CONFIG, None).map_err(s3_error)?;
    Ok(S3Response::with_status(DeleteBucketPolicyOutput::default(), http::StatusCode::NO_CONTENT))
}
