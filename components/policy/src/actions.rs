//! The action each S3 operation needs (IAM's names), by the operation's name as s3s gives it.

/// The IAM action for an S3 operation on a named version (`versionId`), as IAM distinguishes
/// them: reading or deleting one version is not reading or deleting the object.
pub fn for_version_of(operation: &str) -> String {
    let action = match operation {
        "GetObject" | "HeadObject" | "GetObjectAttributes" | "CopyObject" | "UploadPartCopy" => "s3:GetObjectVersion",
        "DeleteObject" | "DeleteObjects" => "s3:DeleteObjectVersion",
        "GetObjectTagging" => "s3:GetObjectVersionTagging",
        "PutObjectTagging" => "s3:PutObjectVersionTagging",
        "DeleteObjectTagging" => "s3:DeleteObjectVersionTagging",
        other => return for_operation(other),
    };
    action.to_owned()
}

/// The IAM action for an S3 operation. Operations without an entry need `s3:<Operation>`,
/// which only `s3:*` grants.
pub fn for_operation(operation: &str) -> String {
    let action = match operation {
        "ListBuckets" => "s3:ListAllMyBuckets",
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => "s3:ListBucket",
        "ListObjectVersions" => "s3:ListBucketVersions",
        "ListMultipartUploads" => "s3:ListBucketMultipartUploads",
        "GetObject" | "HeadObject" | "GetObjectAttributes" => "s3:GetObject",
        "PutObject"
        | "PostObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "CompleteMultipartUpload"
        | "CopyObject"
        | "UploadPartCopy" => "s3:PutObject",
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "ListParts" => "s3:ListMultipartUploadParts",
        "DeleteObject" | "DeleteObjects" => "s3:DeleteObject",
        "DeleteBucketTagging" => "s3:PutBucketTagging",
        "GetBucketCors" => "s3:GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "s3:PutBucketCORS",
        "GetBucketLifecycleConfiguration" => "s3:GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "s3:PutLifecycleConfiguration",
        "GetBucketReplication" => "s3:GetReplicationConfiguration",
        "PutBucketReplication" | "DeleteBucketReplication" => "s3:PutReplicationConfiguration",
        "GetBucketPolicyStatus" => "s3:GetBucketPolicyStatus",
        other => return format!("s3:{other}"),
    };
    action.to_owned()
}

#[cfg(test)]
mod tests {
    use super::{for_operation, for_version_of};

    #[test]
    fn operations_map_to_iam_actions() {
        assert_eq!(for_operation("UploadPart"), "s3:PutObject");
        assert_eq!(for_operation("HeadObject"), "s3:GetObject");
        assert_eq!(for_operation("ListObjectsV2"), "s3:ListBucket");
        assert_eq!(for_operation("GetObjectTagging"), "s3:GetObjectTagging");
        assert_eq!(for_operation("PutBucketPolicy"), "s3:PutBucketPolicy");
        assert_eq!(for_version_of("DeleteObject"), "s3:DeleteObjectVersion");
        assert_eq!(for_version_of("PutObject"), "s3:PutObject");
    }
}
