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


def test_five_gib_multipart_object_keeps_rss_bounded(tmp_path):
    """The largest single PUT is 5 GiB; a multipart object may be larger. 5 GiB in 80 parts of
    64 MiB go up and come back down through one server whose peak RSS stays bounded."""
    import shutil

    from conftest import start_server

    part_bytes = 64 << 20
    parts = (5 * GIB) // part_bytes
    server = start_server(tmp_path, extra_args=("--scan-interval", "0"))
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="huge")
        upload_id = s3.create_multipart_upload(Bucket="huge", Key="five-gib")["UploadId"]
        base = os.urandom(part_bytes)
        digest = hashlib.md5()
        completed = []
        for number in range(1, parts + 1):
            body = number.to_bytes(8, "little") + base[8:]
            digest.update(body)
            etag = s3.upload_part(Bucket="huge", Key="five-gib", UploadId=upload_id, PartNumber=number, Body=body)["ETag"]
            completed.append({"PartNumber": number, "ETag": etag})
        s3.complete_multipart_upload(Bucket="huge", Key="five-gib", UploadId=upload_id, MultipartUpload={"Parts": completed})
        got = hashlib.md5()
        size = 0
        for chunk in s3.get_object(Bucket="huge", Key="five-gib")["Body"].iter_chunks(8 << 20):
            got.update(chunk)
            size += len(chunk)
        assert size == 5 * GIB
        assert got.hexdigest() == digest.hexdigest()
        peak = server.peak_rss_bytes()
        print(f"\npeak server RSS after a 5 GiB multipart PUT and GET: {peak / (1 << 20):.1f} MiB")
        assert peak < RSS_LIMIT_BYTES, f"peak RSS {peak / (1 << 20):.1f} MiB"
    finally:
        server.stop()
        for drive in server.drives:
            shutil.rmtree(drive, ignore_errors=True)
