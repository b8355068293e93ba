//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use crate::bindings::tessera::node::objects;
use crate::errors::s3_error;
use crate::objects::timestamp;

pub fn list_buckets(_request: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
    let buckets = objects::list_buckets().map_err(s3_error)?;
    let buckets = buckets
        .into_iter()
        .map(|bucket| Bucket { name: Some(bucket.name), creation_date: Some(timestamp(bucket.created_ms)), ..Default::default() })
        .collect();
    Ok(S3Response::new(ListBucketsOutput { buckets: Some(buckets), owner: Some(owner()), ..Default::default() }))
}

pub fn create_bucket(request: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
    let bucket = request.input.bucket;
    objects::create_bucket(&bucket).map_err(s3_error)?;
    crate::replication::after_bucket_change(&bucket, &request.headers);
    Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{bucket}")) }))
}

pub fn head_bucket(request: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
    objects::head_bucket(&request.input.bucket).map_err(s3_error)?;
    Ok(S3Response::new(HeadBucketOutput { bucket_region: Some("us-east-1".into()), ..Default::default() }))
}

pub fn delete_bucket(request: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
    objects::delete_bucket(&request.input.bucket).map_err(s3_error)?;
    Ok(S3Response::new(DeleteBucketOutput::default()))
}

pub fn get_bucket_location(request: S3Request<GetBucketLocationInput>) -> S3Result<S3Response<GetBucketLocationOutput>> {
    objects::head_bucket(&request.input.bucket).map_err(s3_error)?;
    // One region, us-east-1, which S3 reports as an empty constraint.
    Ok(S3Response::new(GetBucketLocationOutput::default()))
}

/// The single owner of everything until identities exist.
pub fn owner() -> Owner {
    Owner { display_name: Some("tessera".into()), id: Some("tessera".into()) }
}
