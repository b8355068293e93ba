"""compose/guarded.wac: the node recomposed with objects-guard between the gateway and the
object layer, served by `tessera serve --node target/compose/guarded.wasm`. Every PUT of text
is screened by guardrail; the gateway, the object layer and the clients are unchanged."""

import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import start_server

GUARDED = Path(__file__).resolve().parent.parent / "target/compose/guarded.wasm"
LETTER = b"Refund jane.doe@example.com on card 4111 1111 1111 1111 by Friday.\n"


def guarded_node(tmp_path, mode=None):
    work = tmp_path / (mode or "redact")
    work.mkdir()
    return start_server(work, extra_args=["--node", str(GUARDED)], extra_env={"TESSERA_GUARD_MODE": mode} if mode else None)


@pytest.fixture
def node(tmp_path):
    server = guarded_node(tmp_path)
    yield server
    server.stop()
    assert "panicked" not in server.log(), server.log()


def test_every_put_of_text_is_screened(node):
    s3 = node.client()
    s3.create_bucket(Bucket="letters")
    s3.put_object(Bucket="letters", Key="refund.txt", Body=LETTER, ContentType="text/plain")
    stored = s3.get_object(Bucket="letters", Key="refund.txt")["Body"].read()
    assert stored == b"Refund [REDACTED:email] on card [REDACTED:card] by Friday.\n"
    # Unlabelled bodies are screened too; binary and clean text pass as they are.
    s3.put_object(Bucket="letters", Key="unlabelled", Body=LETTER)
    assert b"[REDACTED:email]" in s3.get_object(Bucket="letters", Key="unlabelled")["Body"].read()
    # The label does not decide: text sent as octet-stream, or with a NUL in it, is screened.
    s3.put_object(Bucket="letters", Key="labelled-binary", Body=LETTER + b"\0", ContentType="application/octet-stream")
    assert b"[REDACTED:card]" in s3.get_object(Bucket="letters", Key="labelled-binary")["Body"].read()
    image = b"\xff\xd8\xff\xe0" + os.urandom(1000) + b"jane.doe@example.com"
    s3.put_object(Bucket="letters", Key="photo.jpg", Body=image, ContentType="image/jpeg")
    assert s3.get_object(Bucket="letters", Key="photo.jpg")["Body"].read() == image
    clean = b"Nothing personal, version 1.2.3 on 2026-11-25.\n"
    response = s3.put_object(Bucket="letters", Key="clean.txt", Body=clean, ContentType="text/plain", ChecksumAlgorithm="SHA256")
    assert s3.get_object(Bucket="letters", Key="clean.txt")["Body"].read() == clean
    assert "ChecksumSHA256" in response
    # A Content-MD5 that does not match is still refused (the guard checks it now).
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket="letters", Key="bad-md5", Body=b"abc", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert error.value.response["Error"]["Code"] == "BadDigest"
    assert "tessera audit: guardrail redacted refund.txt: email=1,card=1" in node.log()


def test_reject_mode_refuses_personal_data(tmp_path):
    server = guarded_node(tmp_path, "reject")
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="letters")
        with pytest.raises(ClientError) as error:
            s3.put_object(Bucket="letters", Key="refund.txt", Body=LETTER, ContentType="text/plain")
        assert error.value.response["Error"]["Code"] == "InvalidArgument"
        assert "personal data" in error.value.response["Error"]["Message"]
        with pytest.raises(ClientError):
            s3.head_object(Bucket="letters", Key="refund.txt")
        s3.put_object(Bucket="letters", Key="ok.txt", Body=b"fine\n", ContentType="text/plain")
        assert s3.get_object(Bucket="letters", Key="ok.txt")["Body"].read() == b"fine\n"
    finally:
        server.stop()
