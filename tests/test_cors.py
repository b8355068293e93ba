"""Bucket CORS: the configuration calls, preflight OPTIONS answered from the rules without
credentials, and the CORS headers on actual requests from an allowed origin."""

import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

RULES = {
    "CORSRules": [
        {
            "AllowedOrigins": ["https://app.example.com", "https://*.example.org"],
            "AllowedMethods": ["GET", "PUT", "HEAD"],
            "AllowedHeaders": ["content-type", "x-amz-*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600,
        },
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
    ]
}


def request(url, method="GET", headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers or {}), timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_configuration_calls(s3, bucket):
    with pytest.raises(ClientError) as none:
        s3.get_bucket_cors(Bucket=bucket)
    assert none.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    stored = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert stored[0]["AllowedOrigins"] == ["https://app.example.com", "https://*.example.org"]
    assert stored[0]["MaxAgeSeconds"] == 600 and stored[1]["AllowedMethods"] == ["GET"]
    with pytest.raises(ClientError) as bad_method:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
    assert bad_method.value.response["Error"]["Code"] == "InvalidRequest"
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as deleted:
        s3.get_bucket_cors(Bucket=bucket)
    assert deleted.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"


def test_preflight_is_answered_from_the_rules(server, s3, bucket):
    url = f"{server.endpoint}/{bucket}/some/key"
    status, _, _ = request(url, "OPTIONS", {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"})
    assert status == 403  # no configuration yet
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    status, headers, _ = request(
        url, "OPTIONS",
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "Content-Type, X-Amz-Date"},
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "PUT" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert headers["Access-Control-Max-Age"] == "600"
    status, headers, _ = request(url, "OPTIONS", {"Origin": "https://cdn.example.org", "Access-Control-Request-Method": "HEAD"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://cdn.example.org"
    # Any origin may GET (second rule), nobody else may DELETE or send other headers.
    status, headers, _ = request(url, "OPTIONS", {"Origin": "https://elsewhere.net", "Access-Control-Request-Method": "GET"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    for refused in [
        {"Origin": "https://elsewhere.net", "Access-Control-Request-Method": "PUT"},
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"},
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x-custom"},
    ]:
        status, _, body = request(url, "OPTIONS", refused)
        assert status == 403 and b"AccessForbidden" in body, refused
    status, _, _ = request(url, "OPTIONS", {"Access-Control-Request-Method": "GET"})
    assert status == 400


def test_actual_requests_from_an_allowed_origin_get_cors_headers(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    s3.put_object(Bucket=bucket, Key="page", Body=b"hello")
    presigner = server.client(signature_version="s3v4")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "page"}, ExpiresIn=60)
    status, headers, body = request(url, headers={"Origin": "https://app.example.com"})
    assert (status, body) == (200, b"hello")
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Expose-Headers"] == "ETag"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    status, headers, _ = request(url)
    assert status == 200 and "Access-Control-Allow-Origin" not in headers
