//! `objects-guard`: compose-time middleware between the gateway and the object layer
//! (`compose/guarded.wac`). It imports `tessera:node/objects` and exports it again, unchanged
//! except for writes: the body of every PUT (and UploadPart) up to 16 MiB that is UTF-8 text,
//! whatever its Content-Type says, is screened by guardrail's detectors before it reaches the
//! object layer. Personal data found in an object is
//! redacted (the stored object is the redacted text; checksums the client sent for the original
//! are dropped), or the PUT is refused (`TESSERA_GUARD_MODE=reject`; a part is always refused,
//! since redacting it would break the ETags its upload is completed with). Larger bodies, and
//! bodies that are not UTF-8 (binary, UTF-16), pass through unscreened.

mod convert;

mod bindings {
    wit_bindgen::generate!({
        world: "objects-middleware",
        path: "../../wit",
    });
}

use std::cell::RefCell;

use bindings::exports::tessera::node::objects::{self as ours, Guest, GuestDownload, GuestUpload};
use bindings::tessera::node::objects as inner;
use convert::To;
use md5::{Digest, Md5};

/// The largest body screened; larger ones stream through (scanning needs the whole text).
const MAX_SCREENED_BYTES: usize = guardrail_core::MAX_INPUT_BYTES;

struct Guard;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    Redact,
    Reject,
}

fn policy() -> Policy {
    match std::env::var("TESSERA_GUARD_MODE").as_deref() {
        Ok("reject") => Policy::Reject,
        _ => Policy::Redact,
    }
}

/// A write on its way: buffered while it may still be screened, then streamed through.
pub struct GuardedUpload {
    inner: inner::Upload,
    state: RefCell<Writing>,
}

struct Writing {
    key: String,
    is_part: bool,
    /// Still collecting the body to screen it.
    buffering: bool,
    buffer: Vec<u8>,
    size: u64,
    md5: Md5,
    /// What the client announced, checked here: the object layer is told nothing, since a
    /// redacted body has another size and digest.
    expected_size: Option<u64>,
    expected_md5: Option<Vec<u8>>,
    checksums: Option<Vec<(String, String)>>,
}

impl GuardedUpload {
    fn begin(inner: inner::Upload, key: &str, is_part: bool, size: Option<u64>, md5: Option<Vec<u8>>) -> Self {
        let state = Writing {
            key: key.to_owned(),
            is_part,
            buffering: true,
            buffer: Vec::new(),
            size: 0,
            md5: Md5::new(),
            expected_size: size,
            expected_md5: md5,
            checksums: None,
        };
        Self { inner, state: RefCell::new(state) }
    }
}

impl GuestUpload for GuardedUpload {
    fn write(&self, data: Vec<u8>) -> Result<(), ours::ObjectError> {
        let mut state = self.state.borrow_mut();
        state.size += data.len() as u64;
        state.md5.update(&data);
        if state.buffering {
            if state.buffer.len() + data.len() <= MAX_SCREENED_BYTES {
                state.buffer.extend_from_slice(&data);
                return Ok(());
            }
            // Too large to screen: what was held goes first, then the rest streams.
            state.buffering = false;
            let held = std::mem::take(&mut state.buffer);
            self.inner.write(&held).map_err(To::to)?;
        }
        self.inner.write(&data).map_err(To::to)
    }

    fn set_checksums(&self, checksums: Vec<(String, String)>) {
        self.state.borrow_mut().checksums = Some(checksums);
    }

    fn finish(&self) -> Result<ours::ObjectInfo, ours::ObjectError> {
        let mut state = self.state.borrow_mut();
        if state.expected_size.is_some_and(|size| size != state.size) {
            return Err(ours::ObjectError::IncompleteBody);
        }
        let digest = state.md5.clone().finalize();
        if state.expected_md5.as_ref().is_some_and(|expected| expected.as_slice() != digest.as_slice()) {
            return Err(ours::ObjectError::BadDigest);
        }
        let mut checksums = state.checksums.take();
        if state.buffering {
            let body = std::mem::take(&mut state.buffer);
            // Whatever the label says: a body that is UTF-8 (NUL bytes and all) is text to scan.
            let found = std::str::from_utf8(&body).ok().map(guardrail_core::redact).filter(|(_, counts)| counts.total() > 0);
            let body = match found {
                Some((text, counts)) => {
                    if state.is_part || policy() == Policy::Reject {
                        eprintln!("tessera audit: guardrail refused {}: {counts}", state.key);
                        return Err(ours::ObjectError::InvalidArgument(format!(
                            "{} holds personal data ({counts}); this node refuses it",
                            state.key
                        )));
                    }
                    eprintln!("tessera audit: guardrail redacted {}: {counts}", state.key);
                    // The client's checksums describe what it sent, not what is stored.
                    checksums = Some(Vec::new());
                    text.into_bytes()
                }
                _ => body,
            };
            self.inner.write(&body).map_err(To::to)?;
        }
        if let Some(checksums) = checksums {
            self.inner.set_checksums(&checksums);
        }
        self.inner.finish().map_err(To::to).map(To::to)
    }

    fn abort(&self) {
        self.inner.abort();
    }
}

pub struct GuardedDownload {
    inner: inner::Download,
}

impl GuestDownload for GuardedDownload {
    fn read(&self) -> Result<Option<Vec<u8>>, ours::ObjectError> {
        self.inner.read().map_err(To::to)
    }
}

impl Guest for Guard {
    type Upload = GuardedUpload;
    type Download = GuardedDownload;

    fn list_buckets() -> Result<Vec<ours::BucketInfo>, ours::ObjectError> {
        inner::list_buckets().to()
    }

    fn create_bucket(bucket: String) -> Result<(), ours::ObjectError> {
        inner::create_bucket(&bucket).map_err(To::to)
    }

    fn head_bucket(bucket: String) -> Result<ours::BucketInfo, ours::ObjectError> {
        inner::head_bucket(&bucket).to()
    }

    fn delete_bucket(bucket: String) -> Result<(), ours::ObjectError> {
        inner::delete_bucket(&bucket).map_err(To::to)
    }

    fn begin_put(bucket: String, key: String, options: ours::PutOptions) -> Result<ours::Upload, ours::ObjectError> {
        let (size, md5) = (options.size, options.content_md5.clone());
        let options = inner::PutOptions { size: None, content_md5: None, ..options.to() };
        let upload = inner::begin_put(&bucket, &key, &options).map_err(To::to)?;
        Ok(ours::Upload::new(GuardedUpload::begin(upload, &key, false, size, md5)))
    }

    fn head(bucket: String, key: String, version_id: Option<String>) -> Result<ours::ObjectInfo, ours::ObjectError> {
        inner::head(&bucket, &key, version_id.as_deref()).to()
    }

    fn get(
        bucket: String,
        key: String,
        version_id: Option<String>,
        range: Option<ours::ByteRange>,
    ) -> Result<(ours::ObjectInfo, Option<ours::ContentRange>, ours::Download), ours::ObjectError> {
        let (info, content_range, download) = inner::get(&bucket, &key, version_id.as_deref(), range.to()).map_err(To::to)?;
        Ok((info.to(), content_range.to(), ours::Download::new(GuardedDownload { inner: download })))
    }

    fn delete(bucket: String, key: String, version_id: Option<String>) -> Result<ours::DeleteResult, ours::ObjectError> {
        inner::delete(&bucket, &key, version_id.as_deref()).to()
    }

    fn list_objects(bucket: String, query: ours::ListQuery) -> Result<ours::ListPage, ours::ObjectError> {
        inner::list_objects(&bucket, &query.to()).to()
    }

    fn list_object_versions(bucket: String, query: ours::VersionsQuery) -> Result<ours::VersionsPage, ours::ObjectError> {
        inner::list_object_versions(&bucket, &query.to()).to()
    }

    fn get_bucket_versioning(bucket: String) -> Result<ours::VersioningState, ours::ObjectError> {
        inner::get_bucket_versioning(&bucket).to()
    }

    fn get_bucket_lifecycle(bucket: String) -> Result<Option<Vec<ours::LifecycleRule>>, ours::ObjectError> {
        inner::get_bucket_lifecycle(&bucket).to()
    }

    fn set_bucket_lifecycle(bucket: String, rules: Option<Vec<ours::LifecycleRule>>) -> Result<(), ours::ObjectError> {
        let rules: Option<Vec<inner::LifecycleRule>> = rules.to();
        inner::set_bucket_lifecycle(&bucket, rules.as_deref()).map_err(To::to)
    }

    fn set_bucket_versioning(bucket: String, state: ours::VersioningState) -> Result<(), ours::ObjectError> {
        inner::set_bucket_versioning(&bucket, state.to()).map_err(To::to)
    }

    fn create_multipart_upload(
        bucket: String,
        key: String,
        options: ours::PutOptions,
        checksum_algorithm: Option<String>,
    ) -> Result<String, ours::ObjectError> {
        inner::create_multipart_upload(&bucket, &key, &options.to(), checksum_algorithm.as_deref()).map_err(To::to)
    }

    fn begin_part(
        bucket: String,
        key: String,
        upload_id: String,
        part_number: u32,
        size: Option<u64>,
        content_md5: Option<Vec<u8>>,
    ) -> Result<ours::Upload, ours::ObjectError> {
        let upload = inner::begin_part(&bucket, &key, &upload_id, part_number, None, None).map_err(To::to)?;
        Ok(ours::Upload::new(GuardedUpload::begin(upload, &format!("{key} (part {part_number})"), true, size, content_md5)))
    }

    fn complete_multipart_upload(
        bucket: String,
        key: String,
        upload_id: String,
        parts: Vec<(u32, String)>,
        checksums: Vec<(String, String)>,
    ) -> Result<ours::ObjectInfo, ours::ObjectError> {
        inner::complete_multipart_upload(&bucket, &key, &upload_id, &parts, &checksums).to()
    }

    fn abort_multipart_upload(bucket: String, key: String, upload_id: String) -> Result<(), ours::ObjectError> {
        inner::abort_multipart_upload(&bucket, &key, &upload_id).map_err(To::to)
    }

    fn list_parts(
        bucket: String,
        key: String,
        upload_id: String,
        after_part: u32,
        max_parts: u32,
    ) -> Result<ours::PartsPage, ours::ObjectError> {
        inner::list_parts(&bucket, &key, &upload_id, after_part, max_parts).to()
    }

    fn list_multipart_uploads(bucket: String, query: ours::UploadsQuery) -> Result<ours::UploadsPage, ours::ObjectError> {
        inner::list_multipart_uploads(&bucket, &query.to()).to()
    }

    fn set_object_tags(
        bucket: String,
        key: String,
        version_id: Option<String>,
        tags: Vec<(String, String)>,
    ) -> Result<(), ours::ObjectError> {
        inner::set_object_tags(&bucket, &key, version_id.as_deref(), &tags).map_err(To::to)
    }

    fn get_bucket_tags(bucket: String) -> Result<Vec<(String, String)>, ours::ObjectError> {
        inner::get_bucket_tags(&bucket).map_err(To::to)
    }

    fn set_bucket_tags(bucket: String, tags: Option<Vec<(String, String)>>) -> Result<(), ours::ObjectError> {
        inner::set_bucket_tags(&bucket, tags.as_deref()).map_err(To::to)
    }

    fn get_bucket_config(bucket: String, name: String) -> Result<Option<Vec<u8>>, ours::ObjectError> {
        inner::get_bucket_config(&bucket, &name).map_err(To::to)
    }

    fn set_bucket_config(bucket: String, name: String, document: Option<Vec<u8>>) -> Result<(), ours::ObjectError> {
        inner::set_bucket_config(&bucket, &name, document.as_deref()).map_err(To::to)
    }

    fn get_node_config(name: String) -> Result<Option<(Vec<u8>, String)>, ours::ObjectError> {
        inner::get_node_config(&name).map_err(To::to)
    }

    fn set_node_config(name: String, document: Option<Vec<u8>>, if_match: Option<String>) -> Result<(), ours::ObjectError> {
        inner::set_node_config(&name, document.as_deref(), if_match.as_deref()).map_err(To::to)
    }

    fn replicate_delete(bucket: String, key: String, source: ours::ReplicaSource) -> Result<ours::DeleteResult, ours::ObjectError> {
        inner::replicate_delete(&bucket, &key, &source.to()).to()
    }

    fn list_replication_tasks(bucket: Option<String>, due_only: bool, max: u32) -> Result<Vec<ours::ReplicationTask>, ours::ObjectError> {
        inner::list_replication_tasks(bucket.as_deref(), due_only, max).to()
    }

    fn get_replication_task(id: String) -> Result<Option<ours::ReplicationTask>, ours::ObjectError> {
        inner::get_replication_task(&id).to()
    }

    fn update_replication_task(task: ours::ReplicationTask, done: bool) -> Result<(), ours::ObjectError> {
        inner::update_replication_task(&task.to(), done).map_err(To::to)
    }

    fn queue_replication(bucket: String, key: String) -> Result<bool, ours::ObjectError> {
        inner::queue_replication(&bucket, &key).map_err(To::to)
    }
}

bindings::export!(Guard with_types_in bindings);
