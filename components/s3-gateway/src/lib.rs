//! The S3 gateway component: `wasi:http/incoming-handler` in, `tessera:node/objects` out.
//!
//! Why s3s: it already implements SigV4 (header, presigned, aws-chunked with and without
//! trailer), S3 routing, the DTOs and XML, and it builds for wasm32-wasip2. We would otherwise
//! write and audit all of that ourselves; instead this crate only supplies the backend (one
//! file per operation family), the root credentials and the wiring to `wstd`.

mod access;
mod admin;
mod admin_batch;
mod admin_iam;
mod admin_replication;
mod auth;
mod bucket_policy;
mod buckets;
mod cors;
mod errors;
mod headers;
mod iam;
mod lifecycle;
mod list;
mod multipart;
mod objects;
mod replication;
mod service;
mod tagging;
mod versioning;

mod bindings {
    wit_bindgen::generate!({
        world: "gateway",
        path: "../../wit",
    });
}

use wstd::__internal::wasip2;
use wstd::http::server::Responder;

/// The `wasi:http/incoming-handler` export. Written out rather than `#[wstd::http_server]`
/// because that macro panics when sending the response fails, and a HEAD response always
/// "fails" under wasi:http 0.2: it declares the object's Content-Length yet has no body, and
/// the host checks the two agree when the body is finished. The client has its answer by then.
struct HttpHandler;

impl wasip2::exports::http::incoming_handler::Guest for HttpHandler {
    fn handle(request: wasip2::http::types::IncomingRequest, response_out: wasip2::http::types::ResponseOutparam) {
        let responder = Responder::new(response_out);
        wstd::runtime::block_on(async move {
            let request = match wstd::http::request::try_from_incoming(request) {
                Ok(request) => request,
                Err(error) => return responder.fail(error),
            };
            let is_head = request.method() == http::Method::HEAD;
            match service::handle(request).await {
                Ok(response) => {
                    if let Err(error) = responder.respond(response).await
                        && !is_head
                    {
                        eprintln!("s3 gateway: sending the response failed: {error:#}");
                    }
                }
                Err(error) => responder.fail(error),
            }
        })
    }
}

wasip2::http::proxy::export!(HttpHandler with_types_in wasip2);

/// The backend s3s calls: one method per S3 operation, each in the file of its family.
pub struct Gateway;

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

/// The router's one hop: each S3 operation goes to the function of its family.
#[async_trait::async_trait]
impl S3 for Gateway {
    async fn list_buckets(&self, request: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        buckets::list_buckets(request)
    }

    async fn create_bucket(&self, request: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        buckets::create_bucket(request)
    }

    async fn head_bucket(&self, request: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        buckets::head_bucket(request)
    }

    async fn delete_bucket(&self, request: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        buckets::delete_bucket(request)
    }

    async fn put_object(&self, request: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        objects::put_object(request).await
    }

    async fn get_object(&self, request: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        objects::get_object(request)
    }

    async fn head_object(&self, request: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        objects::head_object(request)
    }

    async fn delete_object(&self, request: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        objects::delete_object(request)
    }

    async fn list_objects_v2(&self, request: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        list::list_objects_v2(request)
    }

    async fn list_objects(&self, request: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        list::list_objects(request)
    }

    async fn copy_object(&self, request: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        objects::copy_object(request)
    }

    async fn delete_objects(&self, request: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        objects::delete_objects(request)
    }

    async fn create_multipart_upload(
        &self,
        request: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create_multipart_upload(request)
    }

    async fn upload_part(&self, request: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        multipart::upload_part(request).await
    }

    async fn upload_part_copy(&self, request: S3Request<UploadPartCopyInput>) -> S3Result<S3Response<UploadPartCopyOutput>> {
        multipart::upload_part_copy(request)
    }

    async fn complete_multipart_upload(
        &self,
        request: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        multipart::complete_multipart_upload(request)
    }

    async fn abort_multipart_upload(
        &self,
        request: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort_multipart_upload(request)
    }

    async fn list_parts(&self, request: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        multipart::list_parts(request)
    }

    async fn list_multipart_uploads(
        &self,
        request: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        multipart::list_multipart_uploads(request)
    }

    async fn put_object_tagging(&self, request: S3Request<PutObjectTaggingInput>) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        tagging::put_object_tagging(request)
    }

    async fn get_object_tagging(&self, request: S3Request<GetObjectTaggingInput>) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        tagging::get_object_tagging(request)
    }

    async fn delete_object_tagging(&self, request: S3Request<DeleteObjectTaggingInput>) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        tagging::delete_object_tagging(request)
    }

    async fn put_bucket_tagging(&self, request: S3Request<PutBucketTaggingInput>) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        tagging::put_bucket_tagging(request)
    }

    async fn get_bucket_tagging(&self, request: S3Request<GetBucketTaggingInput>) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        tagging::get_bucket_tagging(request)
    }

    async fn delete_bucket_tagging(&self, request: S3Request<DeleteBucketTaggingInput>) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        tagging::delete_bucket_tagging(request)
    }

    async fn put_bucket_cors(&self, request: S3Request<PutBucketCorsInput>) -> S3Result<S3Response<PutBucketCorsOutput>> {
        cors::put_bucket_cors(request)
    }

    async fn get_bucket_cors(&self, request: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
        cors::get_bucket_cors(request)
    }

    async fn list_object_versions(&self, request: S3Request<ListObjectVersionsInput>) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        list::list_object_versions(request)
    }

    async fn put_bucket_versioning(&self, request: S3Request<PutBucketVersioningInput>) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        versioning::put_bucket_versioning(request)
    }

    async fn get_bucket_versioning(&self, request: S3Request<GetBucketVersioningInput>) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        versioning::get_bucket_versioning(request)
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        request: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        lifecycle::put_bucket_lifecycle_configuration(request)
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        request: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        lifecycle::get_bucket_lifecycle_configuration(request)
    }

    async fn delete_bucket_lifecycle(
        &self,
        request: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        lifecycle::delete_bucket_lifecycle(request)
    }

    async fn put_bucket_replication(
        &self,
        request: S3Request<PutBucketReplicationInput>,
    ) -> S3Result<S3Response<PutBucketReplicationOutput>> {
        replication::put_bucket_replication(request)
    }

    async fn get_bucket_replication(
        &self,
        request: S3Request<GetBucketReplicationInput>,
    ) -> S3Result<S3Response<GetBucketReplicationOutput>> {
        replication::get_bucket_replication(request)
    }

    async fn delete_bucket_replication(
        &self,
        request: S3Request<DeleteBucketReplicationInput>,
    ) -> S3Result<S3Response<DeleteBucketReplicationOutput>> {
        replication::delete_bucket_replication(request)
    }

    async fn put_bucket_policy(&self, request: S3Request<PutBucketPolicyInput>) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        bucket_policy::put_bucket_policy(request)
    }

    async fn get_bucket_policy(&self, request: S3Request<GetBucketPolicyInput>) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        bucket_policy::get_bucket_policy(request)
    }

    async fn delete_bucket_policy(&self, request: S3Request<DeleteBucketPolicyInput>) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        bucket_policy::delete_bucket_policy(request)
    }

    async fn delete_bucket_cors(&self, request: S3Request<DeleteBucketCorsInput>) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        cors::delete_bucket_cors(request)
    }

    async fn get_bucket_location(&self, request: S3Request<GetBucketLocationInput>) -> S3Result<S3Response<GetBucketLocationOutput>> {
        buckets::get_bucket_location(request)
    }
}
