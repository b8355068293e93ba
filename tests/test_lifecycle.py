"""Starting and stopping: Ctrl-C lets an in-flight upload finish, and the data is there after a
restart over the same drives."""

import hashlib
import http.client
import os
import signal
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ROOT_PASSWORD, ROOT_USER, start_server

MIB = 1 << 20


def test_ctrl_c_finishes_the_in_flight_upload(tmp_path):
    server = start_server(tmp_path)
    try:
        server.client().create_bucket(Bucket="drain")
        body = os.urandom(8 * MIB)
        url = f"http://127.0.0.1:{server.port}/drain/in-flight"
        request = AWSRequest(method="PUT", url=url, data=body)
        request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        SigV4Auth(Credentials(ROOT_USER, ROOT_PASSWORD), "s3", "us-east-1").add_auth(request)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        connection.putrequest("PUT", "/drain/in-flight", skip_host=True, skip_accept_encoding=True)
        for name, value in request.headers.items():
            connection.putheader(name, value)
        connection.putheader("Host", f"127.0.0.1:{server.port}")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        connection.send(body[: 3 * MIB])
        time.sleep(0.5)
        server.process.send_signal(signal.SIGINT)
        time.sleep(0.5)
        connection.send(body[3 * MIB :])
        response = connection.getresponse()
        assert response.status == 200, response.read()
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    restarted = start_server(tmp_path)
    try:
        assert restarted.client().get_object(Bucket="drain", Key="in-flight")["Body"].read() == body
    finally:
        restarted.stop()
    assert restarted.process.returncode == 0


def test_startup_banner_names_endpoint_drives_layout_and_credentials(tmp_path):
    server = start_server(tmp_path)
    server.stop()
    log = server.log()
    assert f"Tessera S3 endpoint: {server.endpoint}" in log
    for drive in server.drives:
        assert str(drive) in log
    assert "2 data + 2 parity" in log and "reed-solomon-simd/" in log
    assert "credentials from: TESSERA_ROOT_USER" in log


def test_stale_temp_files_are_removed_at_startup(tmp_path):
    server = start_server(tmp_path)
    server.stop()
    stale = server.drives[0] / ".tessera" / "tmp" / "left-by-a-crash"
    stale.write_bytes(b"partial shard")
    restarted = start_server(tmp_path)
    try:
        assert not stale.exists()
    finally:
        restarted.stop()
