"""Path-style and virtual-hosted-style requests reach the same buckets.

`bucket.localhost` does not resolve on every machine, so requests are signed for the virtual
host name and sent to 127.0.0.1 with that Host header, as a resolver would have made them."""

import hashlib
import http.client
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ROOT_PASSWORD, ROOT_USER


def send_signed(server, method, url, body=b""):
    request = AWSRequest(method=method, url=url, data=body)
    request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    SigV4Auth(Credentials(ROOT_USER, ROOT_PASSWORD), "s3", "us-east-1").add_auth(request)
    parts = urlsplit(url)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = dict(request.headers.items())
    headers["Host"] = parts.netloc
    connection.request(method, target, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


def test_virtual_hosted_style_put_get_list(server, s3):
    s3.create_bucket(Bucket="vhost-bucket")
    base = f"http://vhost-bucket.localhost:{server.port}"
    status, _ = send_signed(server, "PUT", f"{base}/greeting.txt", b"hello from a virtual host")
    assert status == 200
    status, body = send_signed(server, "GET", f"{base}/greeting.txt")
    assert (status, body) == (200, b"hello from a virtual host")
    status, body = send_signed(server, "GET", f"{base}/?list-type=2")
    assert status == 200 and b"<Key>greeting.txt</Key>" in body
    # The same object, path-style.
    assert s3.get_object(Bucket="vhost-bucket", Key="greeting.txt")["Body"].read() == b"hello from a virtual host"


def test_path_style_through_the_domain_name(server, s3):
    s3.create_bucket(Bucket="path-bucket")
    status, _ = send_signed(server, "PUT", f"http://localhost:{server.port}/path-bucket/k", b"path style")
    assert status == 200
    assert s3.get_object(Bucket="path-bucket", Key="k")["Body"].read() == b"path style"


def test_virtual_host_of_a_missing_bucket(server):
    status, body = send_signed(server, "GET", f"http://absent-bucket.localhost:{server.port}/k")
    assert status == 404 and b"<Code>NoSuchBucket</Code>" in body
