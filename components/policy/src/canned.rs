//! The policies every node has, by name (as MinIO names them). They cannot be changed or removed.

use crate::document::{Kind, Policy, parse};

pub const NAMES: [&str; 4] = ["readwrite", "readonly", "writeonly", "consoleAdmin"];

/// The JSON of a canned policy.
pub fn document(name: &str) -> Option<&'static str> {
    Some(match name {
        "readwrite" => r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}"#,
        "readonly" => {
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetBucketLocation","s3:GetObject","s3:GetObjectVersion","s3:GetObjectTagging","s3:GetObjectVersionTagging","s3:ListBucket","s3:ListBucketVersions","s3:ListAllMyBuckets"],"Resource":["arn:aws:s3:::*"]}]}"#
        }
        "writeonly" => {
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:AbortMultipartUpload"],"Resource":["arn:aws:s3:::*"]}]}"#
        }
        "consoleAdmin" => {
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["admin:*"],"Resource":["arn:aws:s3:::*"]},{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}"#
        }
        _ => return None,
    })
}

pub fn policy(name: &str) -> Option<Policy> {
    document(name).map(|json| parse(json.as_bytes(), &Kind::Identity).expect("canned policies are valid"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_canned_policy_parses() {
        for name in super::NAMES {
            assert!(super::policy(name).is_some(), "{name}");
        }
        assert!(super::policy("godmode").is_none());
    }
}
