"""Object and bucket tagging: set on PUT, CopyObject and CreateMultipartUpload through
`x-amz-tagging`, replaced and removed with the tagging calls without touching the object, the
S3 limits, and tags healed like the rest of the metadata."""

import pytest
from botocore.exceptions import ClientError


def tag_set(pairs):
    return [{"Key": key, "Value": value} for key, value in pairs]


def tags_of(s3, bucket, key):
    return sorted((tag["Key"], tag["Value"]) for tag in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"])


def test_object_tags_from_put_copy_and_multipart(s3, bucket):
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"data", Tagging="team=edge&stage=prod%20eu")
    assert tags_of(s3, bucket, "tagged") == [("stage", "prod eu"), ("team", "edge")]
    assert s3.get_object(Bucket=bucket, Key="tagged")["TagCount"] == 2
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "tagged"})
    assert tags_of(s3, bucket, "copied") == [("stage", "prod eu"), ("team", "edge")]
    s3.copy_object(Bucket=bucket, Key="retagged", CopySource={"Bucket": bucket, "Key": "tagged"}, TaggingDirective="REPLACE", Tagging="only=one")
    assert tags_of(s3, bucket, "retagged") == [("only", "one")]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="multipart", Tagging="kind=parts")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="multipart", UploadId=upload_id, PartNumber=1, Body=b"x")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="multipart", UploadId=upload_id, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert tags_of(s3, bucket, "multipart") == [("kind", "parts")]


def test_retagging_keeps_the_object_and_removing_empties(s3, bucket):
    s3.put_object(Bucket=bucket, Key="object", Body=b"unchanged bytes" * 10_000)
    before = s3.head_object(Bucket=bucket, Key="object")
    s3.put_object_tagging(Bucket=bucket, Key="object", Tagging={"TagSet": tag_set([("a", "1"), ("b", "2")])})
    after = s3.head_object(Bucket=bucket, Key="object")
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])
    assert tags_of(s3, bucket, "object") == [("a", "1"), ("b", "2")]
    assert s3.get_object(Bucket=bucket, Key="object")["Body"].read() == b"unchanged bytes" * 10_000
    s3.delete_object_tagging(Bucket=bucket, Key="object")
    assert tags_of(s3, bucket, "object") == []
    with pytest.raises(ClientError) as missing:
        s3.put_object_tagging(Bucket=bucket, Key="absent", Tagging={"TagSet": tag_set([("a", "1")])})
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


@pytest.mark.parametrize(
    "pairs",
    [
        [(f"k{index}", "v") for index in range(11)],
        [("k" * 129, "v")],
        [("k", "v" * 257)],
        [("same", "1"), ("same", "2")],
        [("aws:reserved", "v")],
    ],
    ids=["eleven-tags", "long-key", "long-value", "duplicate", "aws-prefix"],
)
def test_tag_limits_are_invalid_tag(s3, bucket, pairs):
    s3.put_object(Bucket=bucket, Key="limits", Body=b"x")
    with pytest.raises(ClientError) as failure:
        s3.put_object_tagging(Bucket=bucket, Key="limits", Tagging={"TagSet": tag_set(pairs)})
    assert failure.value.response["Error"]["Code"] == "InvalidTag"
    assert tags_of(s3, bucket, "limits") == []


def test_bucket_tags(s3, bucket):
    with pytest.raises(ClientError) as none:
        s3.get_bucket_tagging(Bucket=bucket)
    assert none.value.response["Error"]["Code"] == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set([("cost-center", "42"), ("owner", "ops")])})
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert sorted((tag["Key"], tag["Value"]) for tag in got) == [("cost-center", "42"), ("owner", "ops")]
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as removed:
        s3.get_bucket_tagging(Bucket=bucket)
    assert removed.value.response["Error"]["Code"] == "NoSuchTagSet"
    # A tagged bucket is still empty: it can be deleted.
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set([("a", "b")])})
    s3.delete_bucket(Bucket=bucket)


def test_a_drive_with_stale_tags_is_healed(server, s3, bucket):
    import os
    import subprocess

    from conftest import ROOT_PASSWORD, ROOT_USER, tessera_binary

    s3.put_object(Bucket=bucket, Key="stale", Body=os.urandom(300_000))
    first_meta = server.drives[0] / bucket / "stale" / ".meta"
    untagged = first_meta.read_bytes()
    s3.put_object_tagging(Bucket=bucket, Key="stale", Tagging={"TagSet": tag_set([("fresh", "yes")])})
    first_meta.write_bytes(untagged)  # drive 1 missed the retagging
    env = dict(os.environ, TESSERA_ROOT_USER=ROOT_USER, TESSERA_ROOT_PASSWORD=ROOT_PASSWORD)
    result = subprocess.run(
        [tessera_binary(), "admin", "heal", "--bucket", bucket, "--endpoint", server.endpoint],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0 and f"healed {bucket}/stale on drive 1" in result.stdout, result.stdout + result.stderr
    assert first_meta.read_bytes() != untagged
    assert tags_of(s3, bucket, "stale") == [("fresh", "yes")]
