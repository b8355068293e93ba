//! The object metadata file (`.meta`), one per object directory on every drive of its set.
//! Layout (all integers little-endian; the full description is in docs/FORMAT.md):
//!
//! ```text
//! magic "TSRM" | format u16 = 1 | body length u32 | body | BLAKE3(magic..body) 32 bytes
//! ```
//!
//! The body holds a list of versions (one today; the list is there for versioning), each with
//! the erasure layout, placement, sizes, ETag, user metadata and, for small objects, this
//! drive's shard inline. The decoder rejects unknown formats and bad checksums and never panics.

use thiserror::Error;

const MAGIC: &[u8; 4] = b"TSRM";
/// The format version this build writes. It reads this one and every earlier one.
pub const FORMAT_VERSION: u16 = 3;
/// The oldest format this build reads (1: no parts list; the data is one `part.1`).
const OLDEST_FORMAT_VERSION: u16 = 1;
/// Most parts an object has (as S3).
pub const MAX_PARTS: u32 = 10_000;
/// Most stored headers, and most checksums, per version.
const MAX_HEADERS: u32 = 64;
const HEADER_BYTES: usize = 4 + 2 + 4;
const CHECKSUM_BYTES: usize = 32;
/// Upper bound of a metadata file; larger is corrupt.
pub const MAX_META_BYTES: usize = 4 << 20;
const MAX_VERSIONS: u32 = 10_000;
const MAX_USER_METADATA: u32 = 1_000;

/// Why a metadata file could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FormatError {
    #[error("not a Tessera metadata file")]
    BadMagic,
    #[error("metadata format {0} is not known to this build")]
    UnknownFormat(u16),
    #[error("metadata checksum mismatch")]
    BadChecksum,
    #[error("metadata truncated")]
    Truncated,
    #[error("metadata invalid: {0}")]
    Invalid(&'static str),
}

/// What a version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionKind {
    Object = 1,
    DeleteMarker = 2,
}

/// One version of an object as this drive knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// "null" until versioning exists.
    pub version_id: String,
    pub kind: VersionKind,
    pub modified_ms: u64,
    pub size: u64,
    pub etag: String,
    pub content_type: Option<String>,
    pub user_metadata: Vec<(String, String)>,
    pub data_count: u8,
    pub parity_count: u8,
    pub block_bytes: u32,
    /// For each drive position, the shard index it holds.
    pub distribution: Vec<u8>,
    /// The shard index of the drive this file is on.
    pub shard_index: u8,
    /// Directory of the shard file, beside the metadata; empty when the data is inline.
    pub data_dir: String,
    /// This drive's shard blocks (hash + shard, as in a shard file) when inline.
    pub inline_shard: Vec<u8>,
    /// The parts of a multipart object, in order, each its own shard file `part.<number>`;
    /// empty for an object written in one piece (one shard file, `part.1`).
    pub parts: Vec<PartEntry>,
    /// HTTP headers stored with the object (content-disposition, content-encoding,
    /// content-language, cache-control, expires), names lower-case.
    pub headers: Vec<(String, String)>,
    /// Checksums of the whole object the client sent or asked for: algorithm (lower-case:
    /// crc32, crc32c, crc64nvme, sha1, sha256) and base64 value.
    pub checksums: Vec<(String, String)>,
    /// The object's tags (key, value).
    pub tags: Vec<(String, String)>,
    /// Where the version stands in replication (format 3); none when nothing replicates it.
    pub replication: Option<ReplicationState>,
}

/// `x-amz-replication-status` of a version. It changes without a new version, like tags, but
/// is advisory: copies that differ only in it still agree (a drive that missed an update
/// must not turn a readable object unreadable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicationState {
    Pending = 1,
    Completed = 2,
    Failed = 3,
    Replica = 4,
}

/// One part of a multipart object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEntry {
    pub number: u32,
    pub size: u64,
    /// Hex MD5 of the part, as UploadPart returned it.
    pub etag: String,
}

/// Where one stretch of an object lives: a shard file on every drive, cut in blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartFile {
    /// File name in the data directory.
    pub name: String,
    pub size: u64,
    /// Offset of its first byte in the object.
    pub start: u64,
}

impl ObjectVersion {
    /// The shard files of this version, in object order.
    pub fn part_files(&self) -> Vec<PartFile> {
        if self.parts.is_empty() {
            return vec![PartFile { name: "part.1".into(), size: self.size, start: 0 }];
        }
        let mut start = 0;
        self.parts
            .iter()
            .map(|part| {
                let file = PartFile { name: format!("part.{}", part.number), size: part.size, start };
                start += part.size;
                file
            })
            .collect()
    }
}

impl ObjectVersion {
    /// What must be equal on two drives for them to describe the same version.
    pub fn agrees_with(&self, other: &Self) -> bool {
        self.version_id == other.version_id
            && self.modified_ms == other.modified_ms
            && self.size == other.size
            && self.etag == other.etag
            && self.data_dir == other.data_dir
            && self.distribution == other.distribution
            // Tags change without a new version: copies with other tags are stale ones.
            && self.tags == other.tags
    }
}

/// The decoded metadata file: newest version first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub versions: Vec<ObjectVersion>,
}

impl ObjectMeta {
    pub fn latest(&self) -> Option<&ObjectVersion> {
        self.versions.first()
    }

    pub fn version(&self, version_id: &str) -> Option<&ObjectVersion> {
        self.versions.iter().find(|version| version.version_id == version_id)
    }

    pub fn encode(&self) -> Vec<u8> {
        self.encode_as(FORMAT_VERSION)
    }

    fn encode_as(&self, format: u16) -> Vec<u8> {
        let mut body = Writer::default();
        body.u32(self.versions.len() as u32);
        for version in &self.versions {
            encode_version(&mut body, version, format);
        }
        seal(MAGIC, format, &body.0)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let (format, body) = unseal(MAGIC, OLDEST_FORMAT_VERSION..=FORMAT_VERSION, bytes)?;
        let mut reader = Reader(body);
        let count = reader.u32()?;
        if count > MAX_VERSIONS {
            return Err(FormatError::Invalid("too many versions"));
        }
        let versions = (0..count).map(|_| decode_version(&mut reader, format)).collect::<Result<Vec<_>, _>>()?;
        if !reader.0.is_empty() {
            return Err(FormatError::Invalid("trailing bytes"));
        }
        Ok(Self { versions })
    }
}

fn encode_version(out: &mut Writer, version: &ObjectVersion, format: u16) {
    out.bytes(version.version_id.as_bytes());
    out.u8(version.kind as u8);
    out.u64(version.modified_ms);
    out.u64(version.size);
    out.bytes(version.etag.as_bytes());
    match &version.content_type {
        Some(content_type) => {
            out.u8(1);
            out.bytes(content_type.as_bytes());
        }
        None => out.u8(0),
    }
    out.pairs(&version.user_metadata);
    out.u8(version.data_count);
    out.u8(version.parity_count);
    out.u32(version.block_bytes);
    out.bytes(&version.distribution);
    out.u8(version.shard_index);
    out.bytes(version.data_dir.as_bytes());
    out.bytes(&version.inline_shard);
    if format >= 2 {
        out.u32(version.parts.len() as u32);
        for part in &version.parts {
            out.u32(part.number);
            out.u64(part.size);
            out.bytes(part.etag.as_bytes());
        }
        for pairs in [&version.headers, &version.checksums, &version.tags] {
            out.pairs(pairs);
        }
    }
    if format >= 3 {
        out.u8(version.replication.map_or(0, |state| state as u8));
    }
}

fn decode_version(input: &mut Reader, format: u16) -> Result<ObjectVersion, FormatError> {
    let version_id = input.string()?;
    let kind = match input.u8()? {
        1 => VersionKind::Object,
        2 => VersionKind::DeleteMarker,
        _ => return Err(FormatError::Invalid("unknown version kind")),
    };
    let modified_ms = input.u64()?;
    let size = input.u64()?;
    let etag = input.string()?;
    let content_type = match input.u8()? {
        0 => None,
        1 => Some(input.string()?),
        _ => return Err(FormatError::Invalid("bad content-type flag")),
    };
    let user_metadata = input.pairs(MAX_USER_METADATA, "too many user metadata entries")?;
    let data_count = input.u8()?;
    let parity_count = input.u8()?;
    let block_bytes = input.u32()?;
    let distribution = input.bytes()?.to_vec();
    let shard_index = input.u8()?;
    let data_dir = input.string()?;
    let inline_shard = input.bytes()?.to_vec();
    let mut parts = Vec::new();
    if format >= 2 {
        let part_count = input.u32()?;
        if part_count > MAX_PARTS {
            return Err(FormatError::Invalid("too many parts"));
        }
        for _ in 0..part_count {
            parts.push(PartEntry { number: input.u32()?, size: input.u64()?, etag: input.string()? });
        }
    }
    let mut pairs = || if format < 2 { Ok(Vec::new()) } else { input.pairs(MAX_HEADERS, "too many headers or checksums") };
    let headers = pairs()?;
    let checksums = pairs()?;
    let tags = pairs()?;
    let replication = if format < 3 {
        None
    } else {
        match input.u8()? {
            0 => None,
            1 => Some(ReplicationState::Pending),
            2 => Some(ReplicationState::Completed),
            3 => Some(ReplicationState::Failed),
            4 => Some(ReplicationState::Replica),
            _ => return Err(FormatError::Invalid("unknown replication state")),
        }
    };
    let version = ObjectVersion {
        version_id,
        kind,
        modified_ms,
        size,
        etag,
        content_type,
        user_metadata,
        data_count,
        parity_count,
        block_bytes,
        distribution,
        shard_index,
        data_dir,
        inline_shard,
        parts,
        headers,
        checksums,
        tags,
        replication,
    };
    check_version(&version)?;
    Ok(version)
}

/// Invariants every reader relies on, asserted where the metadata is read back.
fn check_version(version: &ObjectVersion) -> Result<(), FormatError> {
    let shard_count = usize::from(version.data_count) + usize::from(version.parity_count);
    if version.data_count == 0 || version.distribution.len() != shard_count {
        return Err(FormatError::Invalid("erasure layout does not match the distribution"));
    }
    let mut seen = vec![false; shard_count];
    for shard in &version.distribution {
        match seen.get_mut(usize::from(*shard)) {
            Some(slot) if !*slot => *slot = true,
            _ => return Err(FormatError::Invalid("distribution is not a permutation")),
        }
    }
    if usize::from(version.shard_index) >= shard_count {
        return Err(FormatError::Invalid("shard index out of range"));
    }
    if version.block_bytes == 0 || version.block_bytes > 64 << 20 {
        return Err(FormatError::Invalid("block size out of range"));
    }
    if version.data_dir.contains('/') || version.data_dir == "." || version.data_dir == ".." {
        return Err(FormatError::Invalid("data directory is not one plain name"));
    }
    if !version.parts.is_empty() {
        if version.data_dir.is_empty() {
            return Err(FormatError::Invalid("parts of an inline object"));
        }
        if version.parts.windows(2).any(|pair| pair[0].number >= pair[1].number) || version.parts[0].number == 0 {
            return Err(FormatError::Invalid("part numbers are not ascending from 1"));
        }
        let total = version.parts.iter().try_fold(0u64, |total, part| total.checked_add(part.size));
        if total != Some(version.size) {
            return Err(FormatError::Invalid("part sizes do not add up to the object size"));
        }
    }
    Ok(())
}

/// Wraps a body the way every Tessera record file is: magic, format, length, body, BLAKE3.
pub(crate) fn seal(magic: &[u8; 4], format: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len() + CHECKSUM_BYTES);
    out.extend_from_slice(magic);
    out.extend_from_slice(&format.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    let checksum = blake3::hash(&out);
    out.extend_from_slice(checksum.as_bytes());
    out
}

/// Checks a sealed record file and returns its format and body.
pub(crate) fn unseal<'a>(magic: &[u8; 4], formats: std::ops::RangeInclusive<u16>, bytes: &'a [u8]) -> Result<(u16, &'a [u8]), FormatError> {
    if bytes.len() < HEADER_BYTES + CHECKSUM_BYTES {
        return Err(FormatError::Truncated);
    }
    if &bytes[..4] != magic {
        return Err(FormatError::BadMagic);
    }
    let format = u16::from_le_bytes([bytes[4], bytes[5]]);
    if !formats.contains(&format) {
        return Err(FormatError::UnknownFormat(format));
    }
    let body_bytes = u32::from_le_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
    if bytes.len() != HEADER_BYTES + body_bytes + CHECKSUM_BYTES {
        return Err(FormatError::Truncated);
    }
    let (signed, checksum) = bytes.split_at(HEADER_BYTES + body_bytes);
    if blake3::hash(signed) != blake3::Hash::from_slice(checksum).map_err(|_| FormatError::Truncated)? {
        return Err(FormatError::BadChecksum);
    }
    Ok((format, &signed[HEADER_BYTES..]))
}

#[derive(Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u8(&mut self, value: u8) {
        self.0.push(value);
    }
    pub(crate) fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn bytes(&mut self, value: &[u8]) {
        self.u32(value.len() as u32);
        self.0.extend_from_slice(value);
    }
    /// A `u32` count, then each pair as two strings.
    pub(crate) fn pairs(&mut self, pairs: &[(String, String)]) {
        self.u32(pairs.len() as u32);
        for (name, value) in pairs {
            self.bytes(name.as_bytes());
            self.bytes(value.as_bytes());
        }
    }
}

pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], FormatError> {
        if self.0.len() < count {
            return Err(FormatError::Truncated);
        }
        let (head, tail) = self.0.split_at(count);
        self.0 = tail;
        Ok(head)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, FormatError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, FormatError> {
        let mut array = [0u8; 8];
        array.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(array))
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], FormatError> {
        let count = self.u32()? as usize;
        self.take(count)
    }
    /// What `Writer::pairs` wrote; more than `max` pairs is `Invalid(too_many)`.
    pub(crate) fn pairs(&mut self, max: u32, too_many: &'static str) -> Result<Vec<(String, String)>, FormatError> {
        let count = self.u32()?;
        if count > max {
            return Err(FormatError::Invalid(too_many));
        }
        (0..count).map(|_| Ok((self.string()?, self.string()?))).collect()
    }
    pub(crate) fn string(&mut self) -> Result<String, FormatError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| FormatError::Invalid("string is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ObjectMeta {
        ObjectMeta {
            versions: vec![ObjectVersion {
                version_id: "null".into(),
                kind: VersionKind::Object,
                modified_ms: 1_700_000_000_000,
                size: 5,
                etag: "5d41402abc4b2a76b9719d911017c592".into(),
                content_type: Some("text/plain".into()),
                user_metadata: vec![("color".into(), "blue".into())],
                data_count: 2,
                parity_count: 2,
                block_bytes: 1 << 20,
                distribution: vec![2, 3, 0, 1],
                shard_index: 3,
                data_dir: String::new(),
                inline_shard: vec![1, 2, 3],
                parts: Vec::new(),
                headers: vec![("cache-control".into(), "no-cache".into())],
                checksums: vec![("crc32".into(), "NSRBwg==".into())],
                tags: vec![("team".into(), "edge".into())],
                replication: Some(ReplicationState::Completed),
            }],
        }
    }

    #[test]
    fn format_1_files_still_read_as_one_part() {
        let mut meta = sample();
        meta.versions[0].headers.clear();
        meta.versions[0].checksums.clear();
        meta.versions[0].tags.clear();
        meta.versions[0].replication = None;
        let decoded = ObjectMeta::decode(&meta.encode_as(1)).unwrap();
        assert_eq!(decoded, meta);
        assert_eq!(decoded.versions[0].part_files(), vec![PartFile { name: "part.1".into(), size: 5, start: 0 }]);
    }

    #[test]
    fn parts_round_trip_and_must_add_up() {
        let mut meta = sample();
        let version = &mut meta.versions[0];
        version.data_dir = "d1".into();
        version.inline_shard.clear();
        version.parts = vec![PartEntry { number: 2, size: 3, etag: "a".into() }, PartEntry { number: 7, size: 2, etag: "b".into() }];
        assert_eq!(ObjectMeta::decode(&meta.encode()).unwrap(), meta);
        assert_eq!(meta.versions[0].part_files()[1], PartFile { name: "part.7".into(), size: 2, start: 3 });
        meta.versions[0].parts[1].size = 3;
        assert_eq!(ObjectMeta::decode(&meta.encode()), Err(FormatError::Invalid("part sizes do not add up to the object size")));
    }

    #[test]
    fn format_2_files_read_without_a_replication_state() {
        let mut meta = sample();
        meta.versions[0].replication = None;
        assert_eq!(ObjectMeta::decode(&meta.encode_as(2)).unwrap(), meta);
    }

    #[test]
    fn round_trip() {
        let meta = sample();
        assert_eq!(ObjectMeta::decode(&meta.encode()).unwrap(), meta);
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_rejected() {
        let encoded = sample().encode();
        for index in 0..encoded.len() {
            let mut damaged = encoded.clone();
            damaged[index] ^= 0x40;
            assert!(ObjectMeta::decode(&damaged).is_err(), "flip at {index}");
            assert!(ObjectMeta::decode(&encoded[..index]).is_err(), "cut at {index}");
        }
    }

    #[test]
    fn unknown_format_is_named() {
        let mut encoded = sample().encode();
        encoded[4] = 9;
        assert_eq!(ObjectMeta::decode(&encoded), Err(FormatError::UnknownFormat(9)));
    }

    /// Wraps any body in a correct header and checksum, so that fuzzing reaches the body
    /// decoder instead of stopping at the checksum.
    fn seal(body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        let checksum = blake3::hash(&out);
        out.extend_from_slice(checksum.as_bytes());
        out
    }

    fn body_of(encoded: &[u8]) -> &[u8] {
        &encoded[HEADER_BYTES..encoded.len() - CHECKSUM_BYTES]
    }

    /// Cases per fuzz property: ten thousand in `cargo xtask test` (well under a second), as many as asked
    /// for with `cargo xtask fuzz` (TESSERA_FUZZ_CASES).
    fn fuzz_config() -> proptest::test_runner::Config {
        let cases = std::env::var("TESSERA_FUZZ_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(10_000);
        proptest::test_runner::Config { cases, failure_persistence: None, ..Default::default() }
    }

    fn arbitrary_version() -> impl Strategy<Value = ObjectVersion> {
        let text = || proptest::string::string_regex("[a-z0-9/._-]{0,40}").expect("a valid pattern");
        (
            (text(), any::<bool>(), any::<u64>(), any::<u64>(), text(), proptest::option::of(text())),
            (proptest::collection::vec((text(), text()), 0..4), 1u8..=16, 0u8..=16, any::<u32>()),
            (proptest::collection::vec(any::<u8>(), 0..32), any::<u8>(), text(), proptest::collection::vec(any::<u8>(), 0..256)),
        )
            .prop_map(|(first, second, third)| {
                let (version_id, marker, modified_ms, size, etag, content_type) = first;
                let (user_metadata, data_count, parity_count, block_bytes) = second;
                let (distribution, shard_index, data_dir, inline_shard) = third;
                ObjectVersion {
                    version_id,
                    kind: if marker { VersionKind::DeleteMarker } else { VersionKind::Object },
                    modified_ms,
                    size,
                    etag,
                    content_type,
                    user_metadata,
                    data_count,
                    parity_count,
                    block_bytes,
                    distribution,
                    shard_index,
                    data_dir,
                    inline_shard,
                    parts: Vec::new(),
                    headers: Vec::new(),
                    checksums: Vec::new(),
                    tags: Vec::new(),
                    replication: if marker { None } else { Some(ReplicationState::Replica) },
                }
            })
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(fuzz_config())]

        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = ObjectMeta::decode(&bytes);
        }

        #[test]
        fn decoding_any_sealed_body_never_panics(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = ObjectMeta::decode(&seal(&body));
        }

        #[test]
        fn decoding_edited_metadata_never_panics(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
            cut in proptest::option::of(any::<prop::sample::Index>()),
        ) {
            let mut body = body_of(&sample().encode()).to_vec();
            for (at, value) in edits {
                let index = at.index(body.len());
                body[index] = value;
            }
            if let Some(cut) = cut {
                body.truncate(cut.index(body.len() + 1));
            }
            let _ = ObjectMeta::decode(&seal(&body));
        }

        #[test]
        fn what_decodes_is_what_was_encoded(versions in proptest::collection::vec(arbitrary_version(), 0..4)) {
            let meta = ObjectMeta { versions };
            match ObjectMeta::decode(&meta.encode()) {
                Ok(decoded) => prop_assert_eq!(decoded, meta),
                // The encoder writes anything; the decoder refuses what breaks its invariants.
                Err(error) => prop_assert!(matches!(error, FormatError::Invalid(_)), "{error:?}"),
            }
        }
    }
}
