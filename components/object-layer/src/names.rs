//! Bucket names and object keys: what S3 accepts, and how a key becomes a path on a drive.
//!
//! A key is split on '/' and each segment becomes one directory name. Segments are escaped so
//! that no key can produce a path that leaves its bucket, and so that every name we write
//! ourselves (they all start with '.') can never collide with a key:
//! - `%` → `%25`, NUL → `%00` (both anywhere), a leading `.` → `%2E`;
//! - an empty segment (from `//`, a leading or a trailing `/`) → `%` alone, which no escaped
//!   segment can be, since every other `%` is followed by two hex digits.

use crate::error::ObjectError;

/// Longest key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest directory name most file systems accept, in bytes.
const MAX_SEGMENT_BYTES: usize = 255;

/// Checks a bucket name against the AWS rules for new buckets.
pub fn validate_bucket(name: &str) -> Result<(), ObjectError> {
    let invalid = |why: &str| Err(ObjectError::InvalidBucketName(why.to_owned()));
    if !(3..=63).contains(&name.len()) {
        return invalid("a bucket name has 3 to 63 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-') {
        return invalid("a bucket name has only lowercase letters, digits, '.' and '-'");
    }
    let first_and_last = [name.as_bytes()[0], name.as_bytes()[name.len() - 1]];
    if !first_and_last.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return invalid("a bucket name begins and ends with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return invalid("a bucket name has no '..', '.-' or '-.'");
    }
    if name.split('.').count() == 4 && name.split('.').all(|part| part.parse::<u8>().is_ok()) {
        return invalid("a bucket name is not an IP address");
    }
    if name.starts_with("xn--") || name.starts_with("sthree-") || name.ends_with("-s3alias") || name.ends_with("--ol-s3") {
        return invalid("a bucket name does not use a reserved prefix or suffix");
    }
    Ok(())
}

/// Checks a key and returns its path below the bucket directory.
pub fn key_to_path(key: &str) -> Result<String, ObjectError> {
    if key.is_empty() {
        return Err(ObjectError::InvalidKey("the key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(ObjectError::KeyTooLong);
    }
    let mut path = String::with_capacity(key.len() + 8);
    for (index, segment) in key.split('/').enumerate() {
        if index > 0 {
            path.push('/');
        }
        let escaped = escape_segment(segment);
        if escaped.len() > MAX_SEGMENT_BYTES {
            return Err(ObjectError::InvalidKey(format!("a key segment between '/' is at most {MAX_SEGMENT_BYTES} bytes once stored")));
        }
        path.push_str(&escaped);
    }
    Ok(path)
}

/// The escaped directory name of one key segment.
pub fn escape_segment(segment: &str) -> String {
    if segment.is_empty() {
        return "%".to_owned();
    }
    let mut escaped = String::with_capacity(segment.len());
    for (index, ch) in segment.char_indices() {
        match ch {
            '%' => escaped.push_str("%25"),
            '\0' => escaped.push_str("%00"),
            '.' if index == 0 => escaped.push_str("%2E"),
            _ => escaped.push(ch),
        }
    }
    escaped
}

/// The key segment a directory name stands for; `None` for our own names (leading '.') and for
/// names no key produces.
pub fn unescape_segment(name: &str) -> Option<String> {
    if name.starts_with('.') || name.is_empty() {
        return None;
    }
    if name == "%" {
        return Some(String::new());
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = name.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_rules() {
        for good in ["abc", "my-bucket", "my.bucket.1", "a1b", &"a".repeat(63)] {
            assert!(validate_bucket(good).is_ok(), "{good}");
        }
        for bad in ["ab", "Bad_Name", "-abc", "abc-", "a..b", "192.168.1.1", "xn--abc", "a b", &"a".repeat(64), "ABC"] {
            assert!(validate_bucket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostile_keys_stay_inside_the_bucket() {
        for key in ["../../etc/passwd", "a//b", "/lead", "trail/", "nul\0byte", ".", "..", "./x", "%", "%25", ".meta"] {
            let path = key_to_path(key).unwrap();
            for segment in path.split('/') {
                assert!(!segment.is_empty() && segment != "." && segment != "..", "{key} -> {path}");
                assert!(!segment.starts_with('.') && !segment.contains('\0'), "{key} -> {path}");
                assert_eq!(unescape_segment(segment).is_some(), true, "{key} -> {path}");
            }
            let back: Vec<String> = path.split('/').map(|s| unescape_segment(s).unwrap()).collect();
            assert_eq!(back.join("/"), key);
        }
    }

    #[test]
    fn key_limits() {
        assert!(matches!(key_to_path(&"a/".repeat(512)), Ok(_)));
        assert!(matches!(key_to_path(&"a".repeat(1025)), Err(ObjectError::KeyTooLong)));
        assert!(matches!(key_to_path(&"a".repeat(256)), Err(ObjectError::InvalidKey(_))));
        assert!(matches!(key_to_path(""), Err(ObjectError::InvalidKey(_))));
    }

    #[test]
    fn own_names_are_not_keys() {
        assert_eq!(unescape_segment(".meta"), None);
        assert_eq!(unescape_segment("%zz"), None);
        assert_eq!(unescape_segment("%"), Some(String::new()));
    }
}
