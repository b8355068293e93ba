//! What travels with an object besides its bytes: the stored HTTP headers (Content-Disposition,
//! Content-Encoding, Content-Language, Cache-Control, Expires), whole-object checksums, and the
//! conditions a request may put on the object's ETag and time.

use base64::Engine as _;
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::dto::*;
use s3s::{S3Result, TrailingHeaders, s3_error};

use crate::bindings::tessera::node::objects::ObjectInfo;

pub const CACHE_CONTROL: &str = "cache-control";
pub const CONTENT_DISPOSITION: &str = "content-disposition";
pub const CONTENT_ENCODING: &str = "content-encoding";
pub const CONTENT_LANGUAGE: &str = "content-language";
pub const EXPIRES: &str = "expires";

/// The headers a put stores, as (lower-case name, value).
pub fn stored(
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    expires: Option<&Timestamp>,
) -> Vec<(String, String)> {
    let expires = expires.and_then(|time| {
        let mut text = Vec::new();
        time.format(TimestampFormat::HttpDate, &mut text).ok()?;
        String::from_utf8(text).ok()
    });
    [
        (CACHE_CONTROL, cache_control),
        (CONTENT_DISPOSITION, content_disposition),
        (CONTENT_ENCODING, content_encoding),
        (CONTENT_LANGUAGE, content_language),
        (EXPIRES, expires),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name.to_owned(), value?)))
    .collect()
}

/// A stored header of an object.
pub fn get(info: &ObjectInfo, name: &str) -> Option<String> {
    info.headers.iter().find(|(stored, _)| stored == name).map(|(_, value)| value.clone())
}

pub fn expires(info: &ObjectInfo) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, &get(info, EXPIRES)?).ok()
}

/// The checksums a put computes while the body streams, and checks at its end.
pub struct BodyChecksums {
    hasher: ChecksumHasher,
    /// Values the client sent in headers (a trailer adds its own at the end).
    expected: Checksum,
}

const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

impl BodyChecksums {
    /// Checksums asked for by `x-amz-checksum-*` headers, `x-amz-sdk-checksum-algorithm` or
    /// an `x-amz-trailer` that announces one.
    pub fn new(expected: Checksum, algorithm: Option<&ChecksumAlgorithm>, headers: &HeaderMap) -> S3Result<Self> {
        let mut wanted: Vec<String> = Vec::new();
        for (name, value) in fields(&expected) {
            if value.is_some() {
                wanted.push(name.to_owned());
            }
        }
        if let Some(algorithm) = algorithm {
            let name = algorithm.as_str().to_ascii_lowercase();
            if !ALGORITHMS.contains(&name.as_str()) {
                return Err(s3_error!(InvalidArgument, "Unsupported checksum algorithm {name}"));
            }
            wanted.push(name);
        }
        if let Some(trailer) = headers.get("x-amz-trailer").and_then(|value| value.to_str().ok()) {
            for name in trailer.split(',').map(|name| name.trim().to_ascii_lowercase()) {
                if let Some(algorithm) = name.strip_prefix("x-amz-checksum-") {
                    if !ALGORITHMS.contains(&algorithm) {
                        return Err(s3_error!(InvalidArgument, "Unsupported checksum algorithm {algorithm}"));
                    }
                    wanted.push(algorithm.to_owned());
                }
            }
        }
        let mut hasher = ChecksumHasher::default();
        for name in wanted {
            match name.as_str() {
                "crc32" => hasher.crc32 = Some(Default::default()),
                "crc32c" => hasher.crc32c = Some(Default::default()),
                "crc64nvme" => hasher.crc64nvme = Some(Default::default()),
                "sha1" => hasher.sha1 = Some(Default::default()),
                "sha256" => hasher.sha256 = Some(Default::default()),
                _ => {}
            }
        }
        Ok(Self { hasher, expected })
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
    }

    /// After the whole body: every checksum the client gave (in a header or the trailer) must
    /// match (BadDigest otherwise). Returns what to store, as (algorithm, base64).
    pub fn finish(self, trailers: Option<&TrailingHeaders>) -> S3Result<Vec<(String, String)>> {
        let mut expected = self.expected;
        if let Some(trailers) = trailers.and_then(TrailingHeaders::take) {
            for (name, slot) in fields_mut(&mut expected) {
                if let Some(value) = trailers.get(format!("x-amz-checksum-{name}").as_str()) {
                    *slot = Some(value.to_str().map_err(|_| s3_error!(InvalidArgument, "Invalid checksum trailer"))?.to_owned());
                }
            }
        }
        let computed = self.hasher.finalize();
        let mut stored = Vec::new();
        for ((name, expected), (_, computed)) in fields(&expected).into_iter().zip(fields(&computed)) {
            if let Some(expected) = expected
                && computed != Some(expected)
            {
                return Err(s3_error!(BadDigest, "The {} you specified did not match the calculated checksum.", name.to_ascii_uppercase()));
            }
            if let Some(value) = computed {
                stored.push((name.to_owned(), value.clone()));
            }
        }
        Ok(stored)
    }
}

fn fields(checksum: &Checksum) -> [(&'static str, Option<&String>); 5] {
    [
        ("crc32", checksum.checksum_crc32.as_ref()),
        ("crc32c", checksum.checksum_crc32c.as_ref()),
        ("crc64nvme", checksum.checksum_crc64nvme.as_ref()),
        ("sha1", checksum.checksum_sha1.as_ref()),
        ("sha256", checksum.checksum_sha256.as_ref()),
    ]
}

fn fields_mut(checksum: &mut Checksum) -> [(&'static str, &mut Option<String>); 5] {
    [
        ("crc32", &mut checksum.checksum_crc32),
        ("crc32c", &mut checksum.checksum_crc32c),
        ("crc64nvme", &mut checksum.checksum_crc64nvme),
        ("sha1", &mut checksum.checksum_sha1),
        ("sha256", &mut checksum.checksum_sha256),
    ]
}

/// The checksum of a multipart object made of parts with these checksums (base64, in part
/// order), as S3 composes it: the algorithm over the concatenated raw part digests, then "-N".
pub fn composite(algorithm: &str, part_checksums: &[&str]) -> S3Result<String> {
    let mut raw = Vec::new();
    for value in part_checksums {
        let digest =
            base64::engine::general_purpose::STANDARD.decode(value).map_err(|_| s3_error!(InvalidPart, "a part checksum is not base64"))?;
        raw.extend_from_slice(&digest);
    }
    let mut hasher = ChecksumHasher::default();
    match algorithm {
        "crc32" => hasher.crc32 = Some(Default::default()),
        "crc32c" => hasher.crc32c = Some(Default::default()),
        "crc64nvme" => hasher.crc64nvme = Some(Default::default()),
        "sha1" => hasher.sha1 = Some(Default::default()),
        "sha256" => hasher.sha256 = Some(Default::default()),
        other => return Err(s3_error!(InvalidArgument, "Unsupported checksum algorithm {other}")),
    }
    hasher.update(&raw);
    let digest = fields(&hasher.finalize()).into_iter().find(|(name, _)| *name == algorithm).and_then(|(_, value)| value.cloned());
    let digest = digest.ok_or_else(|| s3_error!(InternalError, "no {algorithm} digest"))?;
    Ok(format!("{digest}-{}", part_checksums.len()))
}

/// How an object's checksums were made: composed from parts ("…-N") or over the whole object.
pub fn checksum_type(info: &ObjectInfo) -> Option<ChecksumType> {
    let (_, value) = info.checksums.first()?;
    Some(ChecksumType::from_static(if value.contains('-') { ChecksumType::COMPOSITE } else { ChecksumType::FULL_OBJECT }))
}

/// The checksum fields of a DTO from (algorithm, value) pairs.
pub fn checksum_from(pairs: &[(String, String)]) -> Checksum {
    let mut checksum = Checksum::default();
    for (name, slot) in fields_mut(&mut checksum) {
        *slot = pairs.iter().find(|(algorithm, _)| algorithm == name).map(|(_, value)| value.clone());
    }
    checksum
}

/// An object's stored checksums as the DTO carries them.
pub fn checksum_of(info: &ObjectInfo) -> Checksum {
    checksum_from(&info.checksums)
}

/// The conditions of a GET or HEAD (RFC 9110 order, as S3): a failed If-Match or
/// If-Unmodified-Since is 412; a matching If-None-Match or an unmodified If-Modified-Since is
/// 304 Not Modified.
pub fn check_read_conditions(
    info: &ObjectInfo,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified_s = (info.modified_ms / 1000) as i64;
    let precondition_failed = match (if_match, if_unmodified_since) {
        (Some(condition), _) => !matches(info, condition),
        (None, Some(since)) => modified_s > seconds(since),
        (None, None) => false,
    };
    if precondition_failed {
        return Err(s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold"));
    }
    let not_modified = match (if_none_match, if_modified_since) {
        (Some(condition), _) => matches(info, condition),
        (None, Some(since)) => modified_s <= seconds(since),
        (None, None) => false,
    };
    if not_modified {
        return Err(s3_error!(NotModified));
    }
    Ok(())
}

pub fn matches(info: &ObjectInfo, condition: &ETagCondition) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(wanted) => wanted.value() == info.etag,
    }
}

pub fn seconds(time: &Timestamp) -> i64 {
    time::OffsetDateTime::from(time.clone()).unix_timestamp()
}
