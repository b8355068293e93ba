"""Bad input is an S3 error with the right code and status, never a panic or a hang."""

import os
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError


def error_of(excinfo):
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_wrong_secret_is_signature_does_not_match(server):
    s3 = server.client(secret_key="not-the-secret")
    with pytest.raises(ClientError) as excinfo:
        s3.list_buckets()
    assert error_of(excinfo) == (403, "SignatureDoesNotMatch")


def test_unknown_access_key_is_invalid_access_key_id(server):
    s3 = server.client(access_key="nobody", secret_key="whatever")
    with pytest.raises(ClientError) as excinfo:
        s3.list_buckets()
    assert error_of(excinfo) == (403, "InvalidAccessKeyId")


def test_no_auth_is_access_denied(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"hidden")
    for method, url in [("GET", f"/{bucket}/secret"), ("PUT", f"/{bucket}/new"), ("GET", "/"), ("GET", f"/{bucket}")]:
        response = requests.request(method, server.endpoint + url, data=b"x" if method == "PUT" else None, timeout=30)
        assert response.status_code == 403, (method, url)
        assert "<Code>AccessDenied</Code>" in response.text, (method, url)
    assert b"hidden" == s3.get_object(Bucket=bucket, Key="secret")["Body"].read()
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="new")


def test_missing_key_is_no_such_key(s3, bucket):
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="absent")
    assert error_of(excinfo) == (404, "NoSuchKey")


def test_missing_bucket_is_no_such_bucket(s3):
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket="no-such-bucket-here", Key="k")
    assert error_of(excinfo) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x")
    assert error_of(excinfo) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as excinfo:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert error_of(excinfo) == (404, "NoSuchBucket")


def test_invalid_bucket_name(s3):
    with pytest.raises(ClientError) as excinfo:
        s3.create_bucket(Bucket="Bad_Name")
    assert error_of(excinfo) == (400, "InvalidBucketName")


def test_key_over_1024_bytes_is_key_too_long(s3, bucket):
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error_of(excinfo) == (400, "KeyTooLongError")
    s3.put_object(Bucket=bucket, Key="k/" * 512, Body=b"at the limit")
    assert s3.get_object(Bucket=bucket, Key="k/" * 512)["Body"].read() == b"at the limit"


@pytest.mark.parametrize(
    "key",
    ["../escape", "../../../../../../tmp/escape", "a/../../b", "double//slash", "nul\x00byte", "/leading", "./dot", "..", "trailing/"],
)
def test_hostile_keys_stay_inside_the_drives(server, s3, bucket, key):
    work_dir = server.drives[0].parent
    before = set(work_dir.parent.iterdir())
    body = os.urandom(300 << 10)
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except ClientError as error:
        # Rejecting a key is acceptable; it must be a client error, not a 5xx.
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400, error.response
        stored = False
    else:
        stored = True
    # Nothing appeared beside the server's work directory or anywhere outside the drives.
    assert set(work_dir.parent.iterdir()) == before
    for path in work_dir.rglob("*"):
        assert any(path.is_relative_to(drive) for drive in server.drives) or path.name == "server.log", path
    assert not Path("/tmp/escape").exists()
    if stored:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        listed = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert key in listed
        s3.delete_object(Bucket=bucket, Key=key)
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key=key)


def test_metadata_over_2_kib_is_rejected(s3, bucket):
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="meta", Body=b"x", Metadata={"big": "v" * 2100})
    assert error_of(excinfo) == (400, "MetadataTooLarge")


def test_xml_bodies_are_bounded_and_entities_are_not_expanded(server, bucket):
    """A DeleteObjects body over s3s's XML limit is refused before it is parsed; a DTD with an
    entity (the "billion laughs" shape) is malformed XML, not expanded."""
    import hashlib
    import http.client

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from conftest import ROOT_PASSWORD, ROOT_USER

    def signed_post(body):
        url = f"{server.endpoint}/{bucket}?delete"
        request = AWSRequest(method="POST", url=url, data=body, headers={
            "Content-MD5": __import__("base64").b64encode(hashlib.md5(body).digest()).decode(),
            "x-amz-content-sha256": hashlib.sha256(body).hexdigest(),
        })
        SigV4Auth(Credentials(ROOT_USER, ROOT_PASSWORD), "s3", "us-east-1").add_auth(request)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            connection.request("POST", f"/{bucket}?delete", body=body, headers=dict(request.headers))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the node answered and closed before reading everything: the answer is there
        response = connection.getresponse()
        return response.status, response.read()

    huge = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1_000_000 + b"</Delete>"
    status, body = signed_post(huge)
    assert status == 400 and b"MaxMessageLengthExceeded" in body, (status, body[:300])
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<Delete><Object><Key>&b;</Key></Object></Delete>"
    )
    status, body = signed_post(laughs)
    assert status == 400 and b"MalformedXML" in body, (status, body[:300])
