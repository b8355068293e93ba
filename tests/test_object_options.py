"""What travels with an object besides its bytes: stored headers and `response-*` overrides,
checksums (every algorithm, both SDK checksum settings, mismatches refused), and conditional
reads and writes."""

import base64
import datetime
import hashlib
import os
import zlib

import pytest
from botocore.exceptions import ClientError

MIB = 1 << 20


def status_of(failure):
    return failure.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_stored_headers_round_trip_and_response_overrides(s3, bucket):
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    s3.put_object(
        Bucket=bucket, Key="page.html.gz", Body=b"<html>",
        ContentType="text/html", ContentDisposition='attachment; filename="page.html"', ContentEncoding="gzip",
        ContentLanguage="de-CH", CacheControl="max-age=60", Expires=expires,
    )
    for response in [s3.head_object(Bucket=bucket, Key="page.html.gz"), s3.get_object(Bucket=bucket, Key="page.html.gz")]:
        assert response["ContentType"] == "text/html"
        assert response["ContentDisposition"] == 'attachment; filename="page.html"'
        assert response["ContentEncoding"] == "gzip"
        assert response["ContentLanguage"] == "de-CH"
        assert response["CacheControl"] == "max-age=60"
        assert response["Expires"] == expires
    overridden = s3.get_object(
        Bucket=bucket, Key="page.html.gz", ResponseContentType="application/octet-stream",
        ResponseContentDisposition="inline", ResponseCacheControl="no-store", ResponseContentLanguage="fr",
    )
    assert overridden["ContentType"] == "application/octet-stream"
    assert overridden["ContentDisposition"] == "inline"
    assert overridden["CacheControl"] == "no-store"
    assert overridden["ContentLanguage"] == "fr"
    assert overridden["ContentEncoding"] == "gzip"
    # CopyObject keeps them (COPY) or takes the new ones (REPLACE).
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "page.html.gz"})
    assert s3.head_object(Bucket=bucket, Key="kept")["CacheControl"] == "max-age=60"
    s3.copy_object(
        Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "page.html.gz"},
        MetadataDirective="REPLACE", ContentType="text/plain", CacheControl="no-cache",
    )
    replaced = s3.head_object(Bucket=bucket, Key="replaced")
    assert replaced["CacheControl"] == "no-cache" and "ContentDisposition" not in replaced


def b64(digest):
    return base64.b64encode(digest).decode()


def test_every_checksum_algorithm_is_verified_stored_and_returned(s3, bucket):
    body = os.urandom(3 * MIB + 5)
    expected = {
        "ChecksumCRC32": b64(zlib.crc32(body).to_bytes(4, "big")),
        "ChecksumSHA1": b64(hashlib.sha1(body).digest()),
        "ChecksumSHA256": b64(hashlib.sha256(body).digest()),
    }
    for field, value in expected.items():
        s3.put_object(Bucket=bucket, Key=f"sum-{field}", Body=body, **{field: value})
        head = s3.head_object(Bucket=bucket, Key=f"sum-{field}", ChecksumMode="ENABLED")
        assert head[field] == value, field
        got = s3.get_object(Bucket=bucket, Key=f"sum-{field}", ChecksumMode="ENABLED")
        assert got[field] == value and got["Body"].read() == body
    # The SDK computes CRC32C and CRC64NVME itself when asked for the algorithm.
    for algorithm in ["CRC32C", "CRC64NVME"]:
        s3.put_object(Bucket=bucket, Key=f"algo-{algorithm}", Body=body, ChecksumAlgorithm=algorithm)
        head = s3.head_object(Bucket=bucket, Key=f"algo-{algorithm}", ChecksumMode="ENABLED")
        assert head.get(f"Checksum{algorithm}"), head
    # A ranged read carries no whole-object checksum.
    ranged = s3.get_object(Bucket=bucket, Key="sum-ChecksumSHA256", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert "ChecksumSHA256" not in ranged


def test_a_wrong_checksum_is_refused_and_leaves_nothing(s3, bucket):
    body = b"the real content" * 1000
    wrong = b64(hashlib.sha256(b"something else").digest())
    with pytest.raises(ClientError) as failure:
        s3.put_object(Bucket=bucket, Key="refused", Body=body, ChecksumSHA256=wrong)
    assert failure.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="refused")
    assert status_of(missing) == 404
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="refused-part")["UploadId"]
    with pytest.raises(ClientError) as part_failure:
        s3.upload_part(Bucket=bucket, Key="refused-part", UploadId=upload_id, PartNumber=1, Body=body, ChecksumSHA256=wrong)
    assert part_failure.value.response["Error"]["Code"] == "BadDigest"
    assert s3.list_parts(Bucket=bucket, Key="refused-part", UploadId=upload_id).get("Parts", []) == []


@pytest.mark.parametrize("setting", ["when_supported", "when_required"])
def test_both_sdk_checksum_settings_work(server, bucket, setting):
    client = server.client(request_checksum_calculation=setting, response_checksum_validation=setting)
    body = os.urandom(2 * MIB + 1)
    client.put_object(Bucket=bucket, Key=f"sdk-{setting}", Body=body)
    assert client.get_object(Bucket=bucket, Key=f"sdk-{setting}")["Body"].read() == body
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=f"sdk-mp-{setting}")["UploadId"]
    etag = client.upload_part(Bucket=bucket, Key=f"sdk-mp-{setting}", UploadId=upload_id, PartNumber=1, Body=body)["ETag"]
    client.complete_multipart_upload(
        Bucket=bucket, Key=f"sdk-mp-{setting}", UploadId=upload_id, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    assert client.get_object(Bucket=bucket, Key=f"sdk-mp-{setting}")["Body"].read() == body
    if setting == "when_supported":
        # The SDK sent a CRC32 of its own accord: it was checked and kept.
        head = client.head_object(Bucket=bucket, Key=f"sdk-{setting}", ChecksumMode="ENABLED")
        assert head.get("ChecksumCRC32") == b64(zlib.crc32(body).to_bytes(4, "big")), head


def test_conditional_reads(s3, bucket):
    s3.put_object(Bucket=bucket, Key="conditional", Body=b"v1")
    head = s3.head_object(Bucket=bucket, Key="conditional")
    etag, modified = head["ETag"], head["LastModified"]
    assert s3.get_object(Bucket=bucket, Key="conditional", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as failed:
        s3.get_object(Bucket=bucket, Key="conditional", IfMatch='"0000"')
    assert status_of(failed) == 412
    with pytest.raises(ClientError) as not_modified:
        s3.get_object(Bucket=bucket, Key="conditional", IfNoneMatch=etag)
    assert status_of(not_modified) == 304
    with pytest.raises(ClientError) as head_not_modified:
        s3.head_object(Bucket=bucket, Key="conditional", IfModifiedSince=modified + datetime.timedelta(seconds=1))
    assert status_of(head_not_modified) == 304
    assert s3.get_object(Bucket=bucket, Key="conditional", IfModifiedSince=modified - datetime.timedelta(days=1))["Body"].read() == b"v1"
    with pytest.raises(ClientError) as unmodified_since:
        s3.get_object(Bucket=bucket, Key="conditional", IfUnmodifiedSince=modified - datetime.timedelta(days=1))
    assert status_of(unmodified_since) == 412
    # If-Match wins over a failing If-Unmodified-Since (as S3).
    both = s3.get_object(Bucket=bucket, Key="conditional", IfMatch=etag, IfUnmodifiedSince=modified - datetime.timedelta(days=1))
    assert both["Body"].read() == b"v1"


def test_conditional_writes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as exists:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert status_of(exists) == 412
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"
    etag = s3.head_object(Bucket=bucket, Key="once")["ETag"]
    with pytest.raises(ClientError) as stale:
        s3.put_object(Bucket=bucket, Key="once", Body=b"third" * 50_000, IfMatch='"00000000000000000000000000000000"')
    assert status_of(stale) == 412
    s3.put_object(Bucket=bucket, Key="once", Body=b"fourth", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"fourth"
    with pytest.raises(ClientError) as absent:
        s3.put_object(Bucket=bucket, Key="never-written", Body=b"x", IfMatch=etag)
    assert status_of(absent) == 404
