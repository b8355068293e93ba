"""DeleteObjects, ListObjects (V1) and GetBucketLocation, through boto3 and the aws CLI."""

import pytest
from botocore.exceptions import ClientError

from conftest import aws_cli


def test_delete_objects_reports_each_key(s3, bucket):
    for index in range(5):
        s3.put_object(Bucket=bucket, Key=f"batch/{index}", Body=b"x")
    keys = [{"Key": f"batch/{index}"} for index in range(4)] + [{"Key": "batch/never-existed"}]
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    assert sorted(item["Key"] for item in result["Deleted"]) == sorted(key["Key"] for key in keys)
    assert result.get("Errors", []) == []
    assert [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["batch/4"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "batch/4"}], "Quiet": True})
    assert quiet.get("Deleted", []) == []
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_delete_objects_refuses_more_than_1000_keys(s3, bucket):
    with pytest.raises(ClientError) as excinfo:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"k{index}"} for index in range(1001)]})
    assert excinfo.value.response["Error"]["Code"] == "MalformedXML"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_delete_objects_in_a_missing_bucket(s3):
    with pytest.raises(ClientError) as excinfo:
        s3.delete_objects(Bucket="no-such-bucket-here", Delete={"Objects": [{"Key": "k"}]})
    assert excinfo.value.response["Error"]["Code"] == "NoSuchBucket"


def test_aws_cli_recursive_rm_uses_delete_objects(server, s3, bucket):
    for index in range(12):
        s3.put_object(Bucket=bucket, Key=f"tree/{index % 3}/file-{index}", Body=b"data")
    aws_cli(server, "s3", "rm", f"s3://{bucket}/tree/", "--recursive")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_list_objects_v1_pages_with_markers(s3, bucket):
    keys = [f"v1/{index:03d}" for index in range(25)] + ["v1/sub/a", "v1/sub/b"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    pages = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, Prefix="v1/", PaginationConfig={"PageSize": 7}))
    listed = [item["Key"] for page in pages for item in page.get("Contents", [])]
    assert listed == sorted(keys)
    assert len(pages) == 4
    grouped = s3.list_objects(Bucket=bucket, Prefix="v1/", Delimiter="/")
    assert [item["Prefix"] for item in grouped["CommonPrefixes"]] == ["v1/sub/"]
    assert len(grouped["Contents"]) == 25 and not grouped["IsTruncated"]
    after = s3.list_objects(Bucket=bucket, Prefix="v1/", Marker="v1/020")
    assert [item["Key"] for item in after["Contents"]] == [f"v1/{index:03d}" for index in range(21, 25)] + ["v1/sub/a", "v1/sub/b"]


def test_get_bucket_location(s3, bucket):
    assert s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") in (None, "")
    with pytest.raises(ClientError) as excinfo:
        s3.get_bucket_location(Bucket="no-such-bucket-here")
    assert excinfo.value.response["Error"]["Code"] == "NoSuchBucket"


def test_copy_object_copies_bytes_and_metadata(s3, bucket):
    body = bytes(range(256)) * 12_000  # 3 MiB: several erasure blocks
    s3.put_object(Bucket=bucket, Key="src", Body=body, ContentType="text/x-source", Metadata={"origin": "a"})
    result = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert result["CopyObjectResult"]["ETag"] == head["ETag"] == s3.head_object(Bucket=bucket, Key="src")["ETag"]
    assert head["ContentType"] == "text/x-source" and head["Metadata"] == {"origin": "a"}
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body


def test_copy_object_replace_metadata_and_across_buckets(s3, bucket):
    s3.create_bucket(Bucket=f"{bucket}-other")
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", Metadata={"origin": "a"})
    s3.copy_object(
        Bucket=f"{bucket}-other", Key="dst", CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE", Metadata={"origin": "b"}, ContentType="text/plain",
    )
    head = s3.head_object(Bucket=f"{bucket}-other", Key="dst")
    assert head["Metadata"] == {"origin": "b"} and head["ContentType"] == "text/plain"
    assert s3.get_object(Bucket=f"{bucket}-other", Key="dst")["Body"].read() == b"payload"


def test_copy_object_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "absent"})
    assert excinfo.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert excinfo.value.response["Error"]["Code"] == "InvalidRequest"
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket="no-such-bucket-here", Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert excinfo.value.response["Error"]["Code"] == "NoSuchBucket"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="dst")
