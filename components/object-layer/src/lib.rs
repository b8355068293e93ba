//! The object layer component: exports `tessera:node/objects` over the `drive` and `erasure`
//! imports. This file is only glue between the WIT bindings and the plain-Rust modules.

mod buckets;
mod config;
mod error;
mod get;
mod heal;
mod heal_queue;
mod layout;
mod lifecycle;
mod list;
mod lock;
mod meta;
mod multipart;
mod names;
mod put;
mod replication;
mod set;
mod shard_io;
mod status;
mod tags;
mod versioning;

mod bindings {
    wit_bindgen::generate!({
        world: "object-layer",
        path: "../../wit",
    });
}

use bindings::exports::tessera::node::maintenance::{self, HealCursor, HealOptions, HealProgress, NodeStatus};
use bindings::exports::tessera::node::objects::{
    self as wit, BucketInfo, ByteRange, ContentRange, DeleteResult, Guest, LifecycleRule, ListPage, ListQuery, ObjectInfo, PartsPage,
    PutOptions, UploadsPage, UploadsQuery, VersioningState, VersionsPage, VersionsQuery,
};
use error::ObjectError;

struct ObjectLayer;

impl maintenance::Guest for ObjectLayer {
    fn heal_step(options: HealOptions, cursor: Option<HealCursor>, max_objects: u32) -> Result<HealProgress, wit::ObjectError> {
        Ok(heal::step(&set::ErasureSet::open()?, &options, cursor, max_objects)?)
    }

    fn heal_queued(max_objects: u32) -> Result<HealProgress, wit::ObjectError> {
        Ok(heal::queued(&set::ErasureSet::open()?, max_objects)?)
    }

    fn status() -> NodeStatus {
        status::probe()
    }
}

impl Guest for ObjectLayer {
    type Upload = put::Upload;
    type Download = get::Download;

    fn list_buckets() -> Result<Vec<BucketInfo>, wit::ObjectError> {
        Ok(buckets::list(&set::ErasureSet::open()?)?)
    }

    fn create_bucket(bucket: String) -> Result<(), wit::ObjectError> {
        Ok(buckets::create(&set::ErasureSet::open()?, &bucket)?)
    }

    fn head_bucket(bucket: String) -> Result<BucketInfo, wit::ObjectError> {
        Ok(buckets::head(&set::ErasureSet::open()?, &bucket)?)
    }

    fn delete_bucket(bucket: String) -> Result<(), wit::ObjectError> {
        Ok(buckets::delete(&set::ErasureSet::open()?, &bucket)?)
    }

    fn begin_put(bucket: String, key: String, options: PutOptions) -> Result<wit::Upload, wit::ObjectError> {
        let upload = put::Upload::begin(set::ErasureSet::open()?, bucket, key, options)?;
        Ok(wit::Upload::new(upload))
    }

    fn head(bucket: String, key: String, version_id: Option<String>) -> Result<ObjectInfo, wit::ObjectError> {
        let set = set::ErasureSet::open()?;
        let found = get::find(&set, &bucket, &key, version_id.as_deref())?;
        Ok(found.info(&bucket, &key))
    }

    fn get(
        bucket: String,
        key: String,
        version_id: Option<String>,
        range: Option<ByteRange>,
    ) -> Result<(ObjectInfo, Option<ContentRange>, wit::Download), wit::ObjectError> {
        let (info, content_range, download) = get::Download::open(set::ErasureSet::open()?, &bucket, &key, version_id.as_deref(), range)?;
        Ok((info, content_range, wit::Download::new(download)))
    }

    fn delete(bucket: String, key: String, version_id: Option<String>) -> Result<DeleteResult, wit::ObjectError> {
        Ok(put::delete(&set::ErasureSet::open()?, &bucket, &key, version_id.as_deref(), put::DeleteOrigin::Client)?)
    }

    fn list_objects(bucket: String, query: ListQuery) -> Result<ListPage, wit::ObjectError> {
        Ok(list::list(&set::ErasureSet::open()?, &bucket, &query)?)
    }

    fn list_object_versions(bucket: String, query: VersionsQuery) -> Result<VersionsPage, wit::ObjectError> {
        Ok(list::list_versions(&set::ErasureSet::open()?, &bucket, &query)?)
    }

    fn get_bucket_versioning(bucket: String) -> Result<VersioningState, wit::ObjectError> {
        let set = set::ErasureSet::open()?;
        buckets::head(&set, &bucket)?;
        Ok(match versioning::mode(&set, &bucket)? {
            versioning::Mode::Unversioned => VersioningState::Unversioned,
            versioning::Mode::Enabled => VersioningState::Enabled,
            versioning::Mode::Suspended => VersioningState::Suspended,
        })
    }

    fn get_bucket_lifecycle(bucket: String) -> Result<Option<Vec<LifecycleRule>>, wit::ObjectError> {
        Ok(lifecycle::get(&set::ErasureSet::open()?, &bucket)?)
    }

    fn set_bucket_lifecycle(bucket: String, rules: Option<Vec<LifecycleRule>>) -> Result<(), wit::ObjectError> {
        Ok(lifecycle::set(&set::ErasureSet::open()?, &bucket, rules)?)
    }

    fn set_bucket_versioning(bucket: String, state: VersioningState) -> Result<(), wit::ObjectError> {
        let mode = match state {
            VersioningState::Unversioned => versioning::Mode::Unversioned,
            VersioningState::Enabled => versioning::Mode::Enabled,
            VersioningState::Suspended => versioning::Mode::Suspended,
        };
        Ok(versioning::set_mode(&set::ErasureSet::open()?, &bucket, mode)?)
    }

    fn create_multipart_upload(
        bucket: String,
        key: String,
        options: PutOptions,
        checksum_algorithm: Option<String>,
    ) -> Result<String, wit::ObjectError> {
        Ok(multipart::create(&set::ErasureSet::open()?, &bucket, &key, &options, checksum_algorithm)?)
    }

    fn begin_part(
        bucket: String,
        key: String,
        upload_id: String,
        part_number: u32,
        size: Option<u64>,
        content_md5: Option<Vec<u8>>,
    ) -> Result<wit::Upload, wit::ObjectError> {
        let upload = multipart::begin_part(set::ErasureSet::open()?, &bucket, &key, &upload_id, part_number, size, content_md5)?;
        Ok(wit::Upload::new(upload))
    }

    fn complete_multipart_upload(
        bucket: String,
        key: String,
        upload_id: String,
        parts: Vec<(u32, String)>,
        checksums: Vec<(String, String)>,
    ) -> Result<ObjectInfo, wit::ObjectError> {
        Ok(multipart::complete(&set::ErasureSet::open()?, &bucket, &key, &upload_id, &parts, checksums)?)
    }

    fn abort_multipart_upload(bucket: String, key: String, upload_id: String) -> Result<(), wit::ObjectError> {
        Ok(multipart::abort(&set::ErasureSet::open()?, &bucket, &key, &upload_id)?)
    }

    fn list_parts(bucket: String, key: String, upload_id: String, after_part: u32, max_parts: u32) -> Result<PartsPage, wit::ObjectError> {
        Ok(multipart::list_parts(&set::ErasureSet::open()?, &bucket, &key, &upload_id, after_part, max_parts)?)
    }

    fn list_multipart_uploads(bucket: String, query: UploadsQuery) -> Result<UploadsPage, wit::ObjectError> {
        Ok(multipart::list_uploads(&set::ErasureSet::open()?, &bucket, &query)?)
    }

    fn set_object_tags(
        bucket: String,
        key: String,
        version_id: Option<String>,
        tags: Vec<(String, String)>,
    ) -> Result<(), wit::ObjectError> {
        Ok(tags::set_object_tags(&set::ErasureSet::open()?, &bucket, &key, version_id.as_deref(), tags)?)
    }

    fn get_bucket_tags(bucket: String) -> Result<Vec<(String, String)>, wit::ObjectError> {
        Ok(tags::get_bucket_tags(&set::ErasureSet::open()?, &bucket)?)
    }

    fn set_bucket_tags(bucket: String, tags: Option<Vec<(String, String)>>) -> Result<(), wit::ObjectError> {
        Ok(tags::set_bucket_tags(&set::ErasureSet::open()?, &bucket, tags)?)
    }

    fn get_bucket_config(bucket: String, name: String) -> Result<Option<Vec<u8>>, wit::ObjectError> {
        Ok(config::get_bucket(&set::ErasureSet::open()?, &bucket, &name)?)
    }

    fn set_bucket_config(bucket: String, name: String, document: Option<Vec<u8>>) -> Result<(), wit::ObjectError> {
        Ok(config::set_bucket(&set::ErasureSet::open()?, &bucket, &name, document)?)
    }

    fn get_node_config(name: String) -> Result<Option<(Vec<u8>, String)>, wit::ObjectError> {
        Ok(config::get_node(&set::ErasureSet::open()?, &name)?)
    }

    fn set_node_config(name: String, document: Option<Vec<u8>>, if_match: Option<String>) -> Result<(), wit::ObjectError> {
        Ok(config::set_node(&set::ErasureSet::open()?, &name, document, if_match.as_deref())?)
    }

    fn replicate_delete(bucket: String, key: String, source: wit::ReplicaSource) -> Result<DeleteResult, wit::ObjectError> {
        Ok(put::delete(&set::ErasureSet::open()?, &bucket, &key, None, put::DeleteOrigin::Replica(&source))?)
    }

    fn list_replication_tasks(bucket: Option<String>, due_only: bool, max: u32) -> Result<Vec<wit::ReplicationTask>, wit::ObjectError> {
        let tasks = replication::list_tasks(&set::ErasureSet::open()?, bucket.as_deref(), due_only, max as usize)?;
        Ok(tasks.into_iter().map(wit_task).collect())
    }

    fn get_replication_task(id: String) -> Result<Option<wit::ReplicationTask>, wit::ObjectError> {
        Ok(replication::get_task(&set::ErasureSet::open()?, &id)?.map(wit_task))
    }

    fn update_replication_task(task: wit::ReplicationTask, done: bool) -> Result<(), wit::ObjectError> {
        let task = replication::Task {
            id: task.id,
            bucket: task.bucket,
            key: task.key,
            version_id: task.version_id,
            modified_ms: task.modified_ms,
            is_delete: task.is_delete,
            enqueued_ms: task.enqueued_ms,
            attempts: task.attempts,
            next_attempt_ms: task.next_attempt_ms,
            last_error: task.last_error,
            done_targets: task.done_targets,
        };
        Ok(replication::update_task(&set::ErasureSet::open()?, &task, done)?)
    }

    fn queue_replication(bucket: String, key: String) -> Result<bool, wit::ObjectError> {
        Ok(replication::queue_latest(&set::ErasureSet::open()?, &bucket, &key)?)
    }
}

fn wit_task(task: replication::Task) -> wit::ReplicationTask {
    wit::ReplicationTask {
        id: task.id,
        bucket: task.bucket,
        key: task.key,
        version_id: task.version_id,
        modified_ms: task.modified_ms,
        is_delete: task.is_delete,
        enqueued_ms: task.enqueued_ms,
        attempts: task.attempts,
        next_attempt_ms: task.next_attempt_ms,
        last_error: task.last_error,
        done_targets: task.done_targets,
    }
}

impl From<ObjectError> for wit::ObjectError {
    fn from(error: ObjectError) -> Self {
        match error {
            ObjectError::NoSuchBucket => Self::NoSuchBucket,
            ObjectError::NoSuchKey => Self::NoSuchKey,
            ObjectError::BucketExists => Self::BucketExists,
            ObjectError::BucketNotEmpty => Self::BucketNotEmpty,
            ObjectError::InvalidBucketName(why) => Self::InvalidBucketName(why),
            ObjectError::KeyTooLong => Self::KeyTooLong,
            ObjectError::InvalidKey(why) => Self::InvalidKey(why),
            ObjectError::InvalidRange => Self::InvalidRange,
            ObjectError::MetadataTooLarge => Self::MetadataTooLarge,
            ObjectError::EntityTooLarge => Self::EntityTooLarge,
            ObjectError::IncompleteBody => Self::IncompleteBody,
            ObjectError::BadDigest => Self::BadDigest,
            ObjectError::InvalidArgument(why) => Self::InvalidArgument(why),
            ObjectError::InsufficientQuorum(why) => Self::InsufficientQuorum(why),
            ObjectError::Busy(why) => Self::Busy(why),
            ObjectError::NoSuchUpload => Self::NoSuchUpload,
            ObjectError::PreconditionFailed => Self::PreconditionFailed,
            ObjectError::NoSuchVersion => Self::NoSuchVersion,
            ObjectError::DeleteMarker(version_id) => Self::DeleteMarker(version_id),
            ObjectError::InvalidTag(why) => Self::InvalidTag(why),
            ObjectError::NoSuchTagSet => Self::NoSuchTagSet,
            ObjectError::InvalidPart(why) => Self::InvalidPart(why),
            ObjectError::InvalidPartOrder => Self::InvalidPartOrder,
            ObjectError::EntityTooSmall => Self::EntityTooSmall,
            ObjectError::Internal(why) => Self::Internal(why),
        }
    }
}

bindings::export!(ObjectLayer with_types_in bindings);
