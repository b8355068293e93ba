"""Authentication forms beyond a plain signed header: presigned URLs (GET, PUT, HEAD, at most 7
days, expired ones refused), clock skew over 15 minutes, a credential scope from another day,
and the streaming forms every handler that takes a body accepts."""

import contextlib
import datetime
import urllib.error
import urllib.request
from unittest import mock

import pytest
from botocore.exceptions import ClientError


@contextlib.contextmanager
def clock_moved_by(delta):
    """Signs as if the client's clock were `delta` off: botocore signs with its own code, or
    with awscrt's when that is installed (it is: for CRC32C / CRC64NVME)."""
    moved = datetime.datetime.now(datetime.timezone.utc) + delta

    def now(remove_tzinfo=True):
        return moved.replace(tzinfo=None) if remove_tzinfo else moved

    with mock.patch("botocore.auth.get_current_datetime", side_effect=now), mock.patch("botocore.crt.auth.get_current_datetime", side_effect=now):
        yield


def fetch(url, method="GET", data=None):
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def presigner(server):
    """SigV4 presigning (boto3 presigns with SigV2 unless told)."""
    return server.client(signature_version="s3v4")


def test_presigned_get_put_and_head(presigner, bucket):
    s3 = presigner
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=300)
    assert fetch(put_url, "PUT", b"uploaded with a presigned URL")[0] == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=300)
    assert fetch(get_url) == (200, b"uploaded with a presigned URL")
    head_url = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=300)
    assert fetch(head_url, "HEAD")[0] == 200
    # A URL signed for GET does not allow a PUT.
    status, body = fetch(get_url, "PUT", b"tampered")
    assert status == 403 and b"SignatureDoesNotMatch" in body


def test_presigned_urls_live_at_most_seven_days_and_expire(presigner, bucket):
    s3 = presigner
    s3.put_object(Bucket=bucket, Key="short-lived", Body=b"x")
    week = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "short-lived"}, ExpiresIn=604800)
    assert fetch(week)[0] == 200
    too_long = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "short-lived"}, ExpiresIn=604801)
    status, body = fetch(too_long)
    assert status == 400 and b"AuthorizationQueryParametersError" in body
    with clock_moved_by(-datetime.timedelta(minutes=5)):
        expired = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "short-lived"}, ExpiresIn=60)
    status, body = fetch(expired)
    assert status == 403 and b"AccessDenied" in body, body


@pytest.mark.parametrize("minutes", [-20, 20])
def test_clock_skew_over_fifteen_minutes_is_refused(s3, bucket, minutes):
    with clock_moved_by(datetime.timedelta(minutes=minutes)):
        with pytest.raises(ClientError) as failure:
            s3.put_object(Bucket=bucket, Key="skewed", Body=b"x")
    assert failure.value.response["Error"]["Code"] == "RequestTimeTooSkewed"
    # Within the window is fine.
    with clock_moved_by(datetime.timedelta(minutes=minutes // 4)):
        s3.put_object(Bucket=bucket, Key="skewed", Body=b"x")


@pytest.mark.parametrize("payload_signing", [True, False])
def test_streaming_and_unsigned_payloads_on_every_body_handler(server, bucket, payload_signing):
    """PutObject and UploadPart with a signed payload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD with a
    trailer when the SDK adds a checksum) and with UNSIGNED-PAYLOAD; DeleteObjects and
    CompleteMultipartUpload (XML bodies) likewise."""
    client = server.client(s3={"payload_signing_enabled": payload_signing})
    body = b"streamed" * 100_000
    client.put_object(Bucket=bucket, Key=f"stream-{payload_signing}", Body=body)
    assert client.get_object(Bucket=bucket, Key=f"stream-{payload_signing}")["Body"].read() == body
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=f"mp-{payload_signing}")["UploadId"]
    etag = client.upload_part(Bucket=bucket, Key=f"mp-{payload_signing}", UploadId=upload_id, PartNumber=1, Body=body)["ETag"]
    client.complete_multipart_upload(
        Bucket=bucket, Key=f"mp-{payload_signing}", UploadId=upload_id, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    deleted = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"stream-{payload_signing}"}]})
    assert [item["Key"] for item in deleted["Deleted"]] == [f"stream-{payload_signing}"]
