//! Multipart uploads. An upload lives in `.tessera/multipart/<upload id>/` on every drive:
//!
//! ```text
//! upload                 the upload record: bucket, key, content type, user metadata, layout
//! part.<n>.<random>      the drive's shard file of part n, erasure-coded like an object
//! record.<n>             the part record: size, ETag, which file (written after the file)
//! ```
//!
//! A part uploaded again gets a new file and a new record; the record a read quorum agrees on
//! names the file. Completing moves (renames, no copy) each listed part's file into a fresh
//! data directory of the object as `part.<n>` and commits the object's metadata with the parts
//! list, as a put does; then the upload directory goes. Uploads older than the configured age
//! are removed by the maintenance pass.

use std::collections::{BTreeMap, BTreeSet};

use md5::{Digest, Md5};

use crate::bindings::exports::tessera::node::objects::{
    MultipartUpload, ObjectInfo, PartInfo, PartsPage, PutOptions, UploadsPage, UploadsQuery,
};
use crate::bindings::tessera::node::drive::{self, Drive, DriveError};
use crate::buckets;
use crate::error::ObjectError;
use crate::layout::{BLOCK_BYTES, distribution};
use crate::meta::{self, FormatError, ObjectVersion, PartEntry, Reader, VersionKind, Writer};
use crate::names::key_to_path;
use crate::put::{Commit, MAX_USER_METADATA_BYTES, Upload};
use crate::set::{self, ErasureSet};

const MULTIPART_DIR: &str = ".tessera/multipart";
const UPLOAD_RECORD: &str = "upload";
const RECORD_PREFIX: &str = "record.";
const MAX_RECORD_BYTES: u32 = 64 << 10;
/// Every part but the last is at least this large (as S3).
pub const MIN_PART_BYTES: u64 = 5 << 20;
pub const MAX_PART_NUMBER: u32 = 10_000;
/// The largest object a multipart upload makes (as S3: 5 TiB).
const MAX_OBJECT_BYTES: u64 = 5 << 40;
const MAX_PAGE: u32 = 1000;

/// What `create` records about an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UploadRecord {
    bucket: String,
    key: String,
    initiated_ms: u64,
    content_type: Option<String>,
    user_metadata: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    tags: Vec<(String, String)>,
    data_count: u8,
    parity_count: u8,
    /// The checksum every part carries, composed at completion (record version 2).
    checksum_algorithm: Option<String>,
}

impl UploadRecord {
    const MAGIC: &'static [u8; 4] = b"TSRU";

    fn encode(&self) -> Vec<u8> {
        let mut body = Writer::default();
        body.bytes(self.bucket.as_bytes());
        body.bytes(self.key.as_bytes());
        body.u64(self.initiated_ms);
        body.bytes(self.content_type.as_deref().unwrap_or_default().as_bytes());
        body.u8(u8::from(self.content_type.is_some()));
        for pairs in [&self.user_metadata, &self.headers, &self.tags] {
            body.pairs(pairs);
        }
        body.u8(self.data_count);
        body.u8(self.parity_count);
        body.bytes(self.checksum_algorithm.as_deref().unwrap_or_default().as_bytes());
        meta::seal(Self::MAGIC, 2, &body.0)
    }

    fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let (format, body) = meta::unseal(Self::MAGIC, 1..=2, bytes)?;
        let mut input = Reader(body);
        let bucket = input.string()?;
        let key = input.string()?;
        let initiated_ms = input.u64()?;
        let content_type = input.string()?;
        let content_type = (input.u8()? == 1).then_some(content_type);
        let mut pairs = || input.pairs(1000, "too many metadata entries");
        let user_metadata = pairs()?;
        let headers = pairs()?;
        let tags = pairs()?;
        let record = Self {
            bucket,
            key,
            initiated_ms,
            content_type,
            user_metadata,
            headers,
            tags,
            data_count: input.u8()?,
            parity_count: input.u8()?,
            checksum_algorithm: if format >= 2 { Some(input.string()?).filter(|name| !name.is_empty()) } else { None },
        };
        if !input.0.is_empty() {
            return Err(FormatError::Invalid("trailing bytes"));
        }
        Ok(record)
    }
}

/// What an uploaded part's record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub number: u32,
    pub size: u64,
    /// Hex MD5 of the part.
    pub etag: String,
    /// Its shard file in the upload directory.
    pub file: String,
    pub modified_ms: u64,
    /// Checksums the gateway verified (record version 2).
    pub checksums: Vec<(String, String)>,
}

impl PartRecord {
    const MAGIC: &'static [u8; 4] = b"TSRP";

    pub fn encode(&self) -> Vec<u8> {
        let mut body = Writer::default();
        body.u32(self.number);
        body.u64(self.size);
        body.bytes(self.etag.as_bytes());
        body.bytes(self.file.as_bytes());
        body.u64(self.modified_ms);
        body.pairs(&self.checksums);
        meta::seal(Self::MAGIC, 2, &body.0)
    }

    fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let (format, body) = meta::unseal(Self::MAGIC, 1..=2, bytes)?;
        let mut input = Reader(body);
        let mut record = Self {
            number: input.u32()?,
            size: input.u64()?,
            etag: input.string()?,
            file: input.string()?,
            modified_ms: input.u64()?,
            checksums: Vec::new(),
        };
        if format >= 2 {
            record.checksums = input.pairs(8, "too many part checksums")?;
        }
        if !input.0.is_empty() || record.file.contains('/') || !record.file.starts_with("part.") {
            return Err(FormatError::Invalid("bad part record"));
        }
        Ok(record)
    }
}

fn upload_dir(upload_id: &str) -> String {
    format!("{MULTIPART_DIR}/{upload_id}")
}

pub fn part_record_path(upload_dir: &str, number: u32) -> String {
    format!("{upload_dir}/{RECORD_PREFIX}{number}")
}

/// Upload ids are ours: 32 lowercase hex digits. Anything else names no upload (and never a
/// path outside the multipart area).
fn valid_upload_id(upload_id: &str) -> bool {
    upload_id.len() == 32 && upload_id.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

pub fn create(
    set: &ErasureSet,
    bucket: &str,
    key: &str,
    options: &PutOptions,
    checksum_algorithm: Option<String>,
) -> Result<String, ObjectError> {
    key_to_path(key)?;
    if checksum_algorithm.as_deref().is_some_and(|name| !["crc32", "crc32c", "crc64nvme", "sha1", "sha256"].contains(&name)) {
        return Err(ObjectError::InvalidArgument(format!("unsupported checksum algorithm {checksum_algorithm:?}")));
    }
    let metadata_bytes: usize = options.user_metadata.iter().map(|(name, value)| name.len() + value.len()).sum();
    if metadata_bytes > MAX_USER_METADATA_BYTES {
        return Err(ObjectError::MetadataTooLarge);
    }
    crate::tags::validate(&options.tags, crate::tags::MAX_OBJECT_TAGS)?;
    buckets::head(set, bucket)?;
    let upload_id = set::random_id()?;
    let record = UploadRecord {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        initiated_ms: set::now_ms(),
        content_type: options.content_type.clone(),
        user_metadata: options.user_metadata.clone(),
        headers: options.headers.clone(),
        tags: options.tags.clone(),
        data_count: set.layout.data as u8,
        parity_count: set.layout.parity as u8,
        checksum_algorithm,
    };
    let path = format!("{}/{UPLOAD_RECORD}", upload_dir(&upload_id));
    let encoded = record.encode();
    let writes: Vec<(&Drive, String, Vec<u8>)> = set.drives.iter().map(|drive| (drive, path.clone(), encoded.clone())).collect();
    let results = drive::write_file_all(&writes);
    if let Err(error) = ErasureSet::require(&results, set.layout.write_quorum(), "create multipart upload") {
        remove_upload(set, &upload_id);
        return Err(error);
    }
    Ok(upload_id)
}

/// The upload's record as a read quorum has it, checked against the bucket and key asked for.
fn read_upload(set: &ErasureSet, bucket: &str, key: &str, upload_id: &str) -> Result<UploadRecord, ObjectError> {
    if !valid_upload_id(upload_id) {
        return Err(ObjectError::NoSuchUpload);
    }
    buckets::head(set, bucket)?;
    let path = format!("{}/{UPLOAD_RECORD}", upload_dir(upload_id));
    let reads = set.each(|drive| drive.read_file(&path, MAX_RECORD_BYTES));
    let records: Vec<UploadRecord> = reads.iter().filter_map(|read| UploadRecord::decode(read.as_ref().ok()?).ok()).collect();
    let agreed = records.iter().find(|record| records.iter().filter(|other| other == record).count() >= set.layout.read_quorum());
    match agreed {
        Some(record) if record.bucket == bucket && record.key == key => Ok(record.clone()),
        Some(_) => Err(ObjectError::NoSuchUpload),
        None => {
            let missing = reads.iter().filter(|read| matches!(read, Err(DriveError::NotFound))).count();
            if missing > set.layout.drive_count() - set.layout.write_quorum() {
                Err(ObjectError::NoSuchUpload)
            } else {
                Err(ErasureSet::quorum_error(&reads, set.layout.read_quorum(), "read multipart upload"))
            }
        }
    }
}

pub fn begin_part(
    set: ErasureSet,
    bucket: &str,
    key: &str,
    upload_id: &str,
    number: u32,
    size: Option<u64>,
    content_md5: Option<Vec<u8>>,
) -> Result<Upload, ObjectError> {
    if !(1..=MAX_PART_NUMBER).contains(&number) {
        return Err(ObjectError::InvalidArgument(format!("Part number must be an integer between 1 and {MAX_PART_NUMBER}")));
    }
    let record = read_upload(&set, bucket, key, upload_id)?;
    if (usize::from(record.data_count), usize::from(record.parity_count)) != (set.layout.data, set.layout.parity) {
        return Err(ObjectError::Internal("the erasure layout changed since the upload began".into()));
    }
    let options = PutOptions {
        content_type: None,
        user_metadata: Vec::new(),
        headers: Vec::new(),
        checksums: Vec::new(),
        condition: None,
        tags: Vec::new(),
        size,
        content_md5,
        replica: None,
    };
    Upload::begin_part(set, bucket.to_owned(), key.to_owned(), upload_dir(upload_id), number, options)
}

/// The parts a read quorum of drives agrees on, by number (the newest record when a part was
/// uploaded more than once).
fn agreed_parts(set: &ErasureSet, upload_dir: &str) -> BTreeMap<u32, PartRecord> {
    let mut votes: BTreeMap<u32, Vec<PartRecord>> = BTreeMap::new();
    for drive in &set.drives {
        let Ok(entries) = drive.list_dir(upload_dir) else { continue };
        for entry in entries.iter().filter(|entry| !entry.is_dir && entry.name.starts_with(RECORD_PREFIX)) {
            let Ok(bytes) = drive.read_file(&format!("{upload_dir}/{}", entry.name), MAX_RECORD_BYTES) else { continue };
            if let Ok(record) = PartRecord::decode(&bytes) {
                votes.entry(record.number).or_default().push(record);
            }
        }
    }
    let quorum = set.layout.read_quorum();
    votes
        .into_iter()
        .filter_map(|(number, records)| {
            let agreed = records
                .iter()
                .filter(|record| records.iter().filter(|other| other == record).count() >= quorum)
                .max_by_key(|record| record.modified_ms)?;
            Some((number, agreed.clone()))
        })
        .collect()
}

pub fn complete(
    set: &ErasureSet,
    bucket: &str,
    key: &str,
    upload_id: &str,
    listed: &[(u32, String)],
    checksums: Vec<(String, String)>,
) -> Result<ObjectInfo, ObjectError> {
    let record = read_upload(set, bucket, key, upload_id)?;
    if listed.is_empty() {
        return Err(ObjectError::InvalidArgument("You must specify at least one part".into()));
    }
    if listed.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
        return Err(ObjectError::InvalidPartOrder);
    }
    let dir = upload_dir(upload_id);
    let uploaded = agreed_parts(set, &dir);
    let mut chosen = Vec::with_capacity(listed.len());
    for (index, (number, etag)) in listed.iter().enumerate() {
        let etag = etag.trim().trim_matches('"');
        let part = uploaded
            .get(number)
            .filter(|part| part.etag == etag)
            .ok_or_else(|| ObjectError::InvalidPart(format!("part {number} with ETag {etag} was not uploaded")))?;
        if index + 1 < listed.len() && part.size < MIN_PART_BYTES {
            return Err(ObjectError::EntityTooSmall);
        }
        chosen.push(part.clone());
    }
    let size: u64 = chosen.iter().map(|part| part.size).sum();
    if size > MAX_OBJECT_BYTES {
        return Err(ObjectError::EntityTooLarge);
    }
    let mut md5s = Md5::new();
    for part in &chosen {
        md5s.update(hex_bytes(&part.etag).ok_or_else(|| ObjectError::Internal(format!("part {} has a bad ETag", part.number)))?);
    }
    let etag = format!("{}-{}", md5s.finalize().iter().map(|byte| format!("{byte:02x}")).collect::<String>(), chosen.len());

    let object_dir = set::object_dir(bucket, &key_to_path(key)?);
    let data_dir = set::random_id()?;
    let data_path = set::data_dir_path(&object_dir, &data_dir);
    // Each drive takes every part's file into the new data directory, or is left out.
    let committed: Vec<bool> = set
        .drives
        .iter()
        .map(|drive| {
            chosen.iter().all(|part| drive.rename(&format!("{dir}/{}", part.file), &format!("{data_path}/part.{}", part.number)).is_ok())
        })
        .collect();
    let taken = committed.iter().filter(|ok| **ok).count();
    if taken < set.layout.write_quorum() {
        // Give the parts back, so that the client can retry the completion.
        for drive in &set.drives {
            for part in &chosen {
                let _ = drive.rename(&format!("{data_path}/part.{}", part.number), &format!("{dir}/{}", part.file));
            }
            let _ = drive.delete(&data_path, true).and_then(|()| drive.prune_empty_dirs(&object_dir, bucket));
        }
        return Err(ObjectError::InsufficientQuorum(format!("{taken} drives hold every part, {} needed", set.layout.write_quorum())));
    }
    let version = ObjectVersion {
        version_id: "null".into(),
        kind: VersionKind::Object,
        modified_ms: set::now_ms(),
        size,
        etag,
        content_type: record.content_type,
        user_metadata: record.user_metadata,
        headers: record.headers,
        checksums,
        tags: record.tags,
        replication: None,
        data_count: record.data_count,
        parity_count: record.parity_count,
        block_bytes: BLOCK_BYTES as u32,
        distribution: distribution(key, set.layout.drive_count()),
        shard_index: 0,
        data_dir,
        inline_shard: Vec::new(),
        parts: chosen.iter().map(|part| PartEntry { number: part.number, size: part.size, etag: part.etag.clone() }).collect(),
    };
    let commit = Commit { set, bucket, key, object_dir: &object_dir };
    let published = commit.publish(&version, vec![Vec::new(); set.layout.drive_count()], &committed, None, None)?;
    remove_upload(set, upload_id);
    Ok(commit.info_of(published))
}

pub fn abort(set: &ErasureSet, bucket: &str, key: &str, upload_id: &str) -> Result<(), ObjectError> {
    read_upload(set, bucket, key, upload_id)?;
    let results = set.each(|drive| drive.delete(&upload_dir(upload_id), true));
    ErasureSet::require(&results, set.layout.write_quorum(), "abort multipart upload")
}

fn remove_upload(set: &ErasureSet, upload_id: &str) {
    for drive in &set.drives {
        let _ = drive.delete(&upload_dir(upload_id), true);
    }
}

pub fn list_parts(
    set: &ErasureSet,
    bucket: &str,
    key: &str,
    upload_id: &str,
    after: u32,
    max_parts: u32,
) -> Result<PartsPage, ObjectError> {
    let record = read_upload(set, bucket, key, upload_id)?;
    let max = max_parts.clamp(1, MAX_PAGE) as usize;
    let mut parts: Vec<PartInfo> = agreed_parts(set, &upload_dir(upload_id))
        .into_values()
        .filter(|part| part.number > after)
        .map(|part| PartInfo {
            number: part.number,
            etag: part.etag,
            size: part.size,
            modified_ms: part.modified_ms,
            checksums: part.checksums,
        })
        .collect();
    let is_truncated = parts.len() > max;
    parts.truncate(max);
    let next_part_number_marker = parts.last().map(|part| part.number).filter(|_| is_truncated);
    Ok(PartsPage { parts, is_truncated, next_part_number_marker, checksum_algorithm: record.checksum_algorithm })
}

/// Every upload id some drive has, with its record where a read quorum agrees on one.
fn all_uploads(set: &ErasureSet) -> Vec<(String, Option<UploadRecord>)> {
    let mut ids = BTreeSet::new();
    for entries in set.each(|drive| drive.list_dir(MULTIPART_DIR)).into_iter().flatten() {
        ids.extend(entries.into_iter().filter(|entry| entry.is_dir && valid_upload_id(&entry.name)).map(|entry| entry.name));
    }
    ids.into_iter()
        .map(|id| {
            let path = format!("{}/{UPLOAD_RECORD}", upload_dir(&id));
            let records: Vec<UploadRecord> = set
                .each(|drive| drive.read_file(&path, MAX_RECORD_BYTES))
                .into_iter()
                .filter_map(|read| UploadRecord::decode(&read.ok()?).ok())
                .collect();
            let agreed =
                records.iter().find(|record| records.iter().filter(|other| other == record).count() >= set.layout.read_quorum()).cloned();
            (id, agreed)
        })
        .collect()
}

pub fn list_uploads(set: &ErasureSet, bucket: &str, query: &UploadsQuery) -> Result<UploadsPage, ObjectError> {
    buckets::head(set, bucket)?;
    let mut uploads: Vec<MultipartUpload> = all_uploads(set)
        .into_iter()
        .filter_map(|(upload_id, record)| {
            let record = record.filter(|record| record.bucket == bucket && record.key.starts_with(&query.prefix))?;
            Some(MultipartUpload { key: record.key, upload_id, initiated_ms: record.initiated_ms })
        })
        .filter(|upload| {
            upload.key.as_str() > query.key_marker.as_str()
                || (upload.key == query.key_marker
                    && !query.upload_id_marker.is_empty()
                    && upload.upload_id.as_str() > query.upload_id_marker.as_str())
        })
        .collect();
    uploads.sort_by(|a, b| (&a.key, a.initiated_ms, &a.upload_id).cmp(&(&b.key, b.initiated_ms, &b.upload_id)));
    let max = query.max_uploads.clamp(1, MAX_PAGE) as usize;
    let mut page = UploadsPage {
        uploads: Vec::new(),
        common_prefixes: Vec::new(),
        is_truncated: false,
        next_key_marker: None,
        next_upload_id_marker: None,
    };
    for upload in uploads {
        let common = (!query.delimiter.is_empty())
            .then(|| {
                upload.key[query.prefix.len()..]
                    .find(&query.delimiter)
                    .map(|at| upload.key[..query.prefix.len() + at + query.delimiter.len()].to_owned())
            })
            .flatten();
        if common.as_ref().is_some_and(|common| page.common_prefixes.last() == Some(common)) {
            continue;
        }
        if page.uploads.len() + page.common_prefixes.len() == max {
            page.is_truncated = true;
            break;
        }
        match common {
            Some(common) => {
                page.next_key_marker = Some(common.clone());
                page.next_upload_id_marker = None;
                page.common_prefixes.push(common);
            }
            None => {
                page.next_key_marker = Some(upload.key.clone());
                page.next_upload_id_marker = Some(upload.upload_id.clone());
                page.uploads.push(upload);
            }
        }
    }
    if !page.is_truncated {
        page.next_key_marker = None;
        page.next_upload_id_marker = None;
    }
    Ok(page)
}

/// Removes uploads begun more than `max_age_ms` ago (and upload directories without a readable
/// record as old); returns how many.
pub fn expire(set: &ErasureSet, max_age_ms: u64) -> u64 {
    expire_matching(set, max_age_ms, None)
}

/// Removes the uploads of `bucket` whose key starts with `prefix`, begun more than
/// `max_age_ms` ago (lifecycle rules); returns how many.
pub fn expire_in(set: &ErasureSet, bucket: &str, prefix: &str, max_age_ms: u64) -> u64 {
    expire_matching(set, max_age_ms, Some((bucket, prefix)))
}

fn expire_matching(set: &ErasureSet, max_age_ms: u64, only: Option<(&str, &str)>) -> u64 {
    let now = set::now_ms();
    let mut removed = 0;
    for (upload_id, record) in all_uploads(set) {
        let started = match (&record, only) {
            (Some(record), Some((bucket, prefix))) if record.bucket != bucket || !record.key.starts_with(prefix) => continue,
            (Some(record), _) => record.initiated_ms,
            // Without a record, only the node-wide expiry may take it.
            (None, Some(_)) => continue,
            (None, None) => {
                set.drives.iter().find_map(|drive| drive.stat(&upload_dir(&upload_id)).ok()).map_or(now, |info| info.modified_ms)
            }
        };
        if now.saturating_sub(started) > max_age_ms {
            remove_upload(set, &upload_id);
            removed += 1;
        }
    }
    removed
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok()).collect()
}
