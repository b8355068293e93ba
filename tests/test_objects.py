"""Buckets and objects through boto3 and the aws CLI: bytes in, the same bytes out."""

import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from conftest import aws_cli

MIB = 1 << 20


def error_of(excinfo):
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_bucket_lifecycle(s3):
    s3.create_bucket(Bucket="lifecycle-bucket")
    assert "lifecycle-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket="lifecycle-bucket")
    with pytest.raises(ClientError) as excinfo:
        s3.create_bucket(Bucket="lifecycle-bucket")
    assert error_of(excinfo) == (409, "BucketAlreadyOwnedByYou")
    s3.put_object(Bucket="lifecycle-bucket", Key="a/b", Body=b"x")
    with pytest.raises(ClientError) as excinfo:
        s3.delete_bucket(Bucket="lifecycle-bucket")
    assert error_of(excinfo) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket="lifecycle-bucket", Key="a/b")
    s3.delete_bucket(Bucket="lifecycle-bucket")
    assert "lifecycle-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as excinfo:
        s3.head_bucket(Bucket="lifecycle-bucket")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize("size", [0, 1, 1000, 128 << 10, (128 << 10) + 1, MIB, MIB + 1, 20 * MIB])
def test_put_get_head_delete(s3, bucket, size):
    body = os.urandom(size)
    key = f"sizes/object-{size}"
    put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-test", Metadata={"color": "blue"})
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == size
    assert head["ETag"] == put["ETag"]
    assert head["ContentType"] == "application/x-test"
    assert head["Metadata"] == {"color": "blue"}
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == body
    assert got["ContentLength"] == size
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(ClientError) as excinfo:
        s3.head_object(Bucket=bucket, Key=key)
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_overwrite_replaces_the_object(s3, bucket):
    for round_number in range(3):
        body = os.urandom(3 * MIB + round_number)
        s3.put_object(Bucket=bucket, Key="same", Body=body)
        assert s3.get_object(Bucket=bucket, Key="same")["Body"].read() == body
    small = b"now small"
    s3.put_object(Bucket=bucket, Key="same", Body=small)
    assert s3.get_object(Bucket=bucket, Key="same")["Body"].read() == small


def test_ranged_get(s3, bucket):
    body = os.urandom(3 * MIB + 12345)
    s3.put_object(Bucket=bucket, Key="ranged", Body=body)
    cases = {
        "bytes=0-0": body[0:1],
        "bytes=100-199": body[100:200],
        f"bytes={MIB - 10}-{MIB + 10}": body[MIB - 10 : MIB + 11],
        f"bytes={2 * MIB}-": body[2 * MIB :],
        "bytes=-5000": body[-5000:],
        f"bytes=0-{10 * MIB}": body,
    }
    for header, expected in cases.items():
        got = s3.get_object(Bucket=bucket, Key="ranged", Range=header)
        assert got["Body"].read() == expected, header
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, header
        assert got["ContentRange"].endswith(f"/{len(body)}"), header
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="ranged", Range=f"bytes={len(body)}-")
    assert error_of(excinfo) == (416, "InvalidRange")


def test_small_object_range(s3, bucket):
    s3.put_object(Bucket=bucket, Key="tiny", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="tiny", Range="bytes=3-5")
    assert got["Body"].read() == b"345"


def test_aws_cli_round_trip(server, bucket, tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(5 * MIB + 7))
    # Below the CLI's multipart threshold, `s3 cp` is one PutObject.
    aws_cli(server, "s3", "cp", str(source), f"s3://{bucket}/cli/source.bin", "--expected-size", str(5 * MIB + 7))
    listing = aws_cli(server, "s3", "ls", f"s3://{bucket}/cli/").stdout
    assert "source.bin" in listing and str(5 * MIB + 7) in listing
    back = tmp_path / "back.bin"
    aws_cli(server, "s3api", "get-object", "--bucket", bucket, "--key", "cli/source.bin", str(back))
    assert back.read_bytes() == source.read_bytes()
    aws_cli(server, "s3", "rm", f"s3://{bucket}/cli/source.bin")
    assert "source.bin" not in aws_cli(server, "s3", "ls", f"s3://{bucket}/", "--recursive").stdout


def test_empty_and_non_empty_puts_alternate_on_one_connection(server, bucket):
    # botocore sends `Expect: 100-continue` on every PutObject and mishandles the next response
    # on a connection whose previous `Expect` got no `100 Continue` (an empty body needs none):
    # the node must leave it a connection it can use. A misread ends in a read timeout.
    client = server.client(read_timeout=3, retries={"total_max_attempts": 1})
    sizes = [0, 5, 0, 0, 3, 1]
    for index, size in enumerate(sizes):
        client.put_object(Bucket=bucket, Key=f"alternate-{index}", Body=b"z" * size)
    for index, size in enumerate(sizes):
        assert client.get_object(Bucket=bucket, Key=f"alternate-{index}")["Body"].read() == b"z" * size
