"""A 1 GiB single PutObject and its GetObject stream through the node with bounded memory."""

import hashlib
import os

from conftest import aws_cli

GIB = 1 << 30
RSS_LIMIT_BYTES = 256 << 20


def test_one_gib_put_and_get_keep_rss_bounded(server, bucket, tmp_path):
    source = tmp_path / "one-gib.bin"
    digest = hashlib.md5()
    with open(source, "wb") as out:
        chunk = os.urandom(4 << 20)
        for index in range(GIB // len(chunk)):
            # Vary each chunk so that no two blocks are alike.
            block = index.to_bytes(8, "little") + chunk[8:]
            digest.update(block)
            out.write(block)
    # `s3api put-object` is always one request, whatever the size.
    aws_cli(server, "s3api", "put-object", "--bucket", bucket, "--key", "big", "--body", str(source))
    source.unlink()
    back = tmp_path / "back.bin"
    aws_cli(server, "s3api", "get-object", "--bucket", bucket, "--key", "big", str(back))
    assert back.stat().st_size == GIB
    got = hashlib.md5()
    with open(back, "rb") as data:
        while block := data.read(8 << 20):
            got.update(block)
    assert got.hexdigest() == digest.hexdigest()
    peak = server.peak_rss_bytes()
    print(f"\npeak server RSS after a 1 GiB PUT and GET: {peak / (1 << 20):.1f} MiB")
    assert peak < RSS_LIMIT_BYTES, f"peak RSS {peak / (1 << 20):.1f} MiB"
