"""Real clients beyond boto3 and the aws CLI: rclone (sync + check, multipart), s3cmd (put, get,
ls, sync, del, multipart) and minio-py. `cargo xtask test` installs them (apt, pip) when
missing."""

import os
import shutil
import subprocess

import pytest

from conftest import ROOT_PASSWORD, ROOT_USER

MIB = 1 << 20


def need(tool):
    if not shutil.which(tool):
        pytest.fail(f"{tool} is missing: `cargo xtask test` installs it")


def make_tree(root):
    files = {
        "big.bin": os.urandom(12 * MIB + 3),
        "docs/readme.txt": b"hello from a client test\n",
        "docs/deeper/data.bin": os.urandom(300_000),
        "empty": b"",
    }
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return files


def rclone(server, *args):
    env = dict(os.environ)
    # rclone 1.60 fails to load the CA bundle this environment points to; plain http needs none.
    env.pop("AWS_CA_BUNDLE", None)
    env.update(
        RCLONE_CONFIG_TESS_TYPE="s3",
        RCLONE_CONFIG_TESS_PROVIDER="Other",
        RCLONE_CONFIG_TESS_ACCESS_KEY_ID=ROOT_USER,
        RCLONE_CONFIG_TESS_SECRET_ACCESS_KEY=ROOT_PASSWORD,
        RCLONE_CONFIG_TESS_ENDPOINT=server.endpoint,
        RCLONE_CONFIG_TESS_REGION="us-east-1",
        RCLONE_CONFIG_TESS_FORCE_PATH_STYLE="true",
    )
    result = subprocess.run(
        ["rclone", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", "--retries", "1", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"rclone {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_rclone_sync_and_check_both_ways(server, bucket, tmp_path):
    need("rclone")
    source = tmp_path / "source"
    files = make_tree(source)
    rclone(server, "sync", str(source), f"tess:{bucket}/tree")
    rclone(server, "check", str(source), f"tess:{bucket}/tree")
    back = tmp_path / "back"
    rclone(server, "sync", f"tess:{bucket}/tree", str(back))
    for name, body in files.items():
        assert (back / name).read_bytes() == body, name
    # A deletion syncs too.
    (source / "docs" / "readme.txt").unlink()
    rclone(server, "sync", str(source), f"tess:{bucket}/tree")
    listed = rclone(server, "lsf", "-R", f"tess:{bucket}/tree").stdout.split()
    assert "docs/readme.txt" not in listed and "big.bin" in listed


def s3cmd(server, config, *args):
    result = subprocess.run(["s3cmd", "-c", str(config), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"s3cmd {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_s3cmd_put_get_ls_sync_and_delete(server, bucket, tmp_path):
    need("s3cmd")
    host = server.endpoint.removeprefix("http://")
    config = tmp_path / "s3cfg"
    config.write_text(
        "[default]\n"
        f"access_key = {ROOT_USER}\nsecret_key = {ROOT_PASSWORD}\n"
        f"host_base = {host}\nhost_bucket = {host}\n"
        "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
        "multipart_chunk_size_mb = 5\n"
    )
    source = tmp_path / "source"
    files = make_tree(source)
    s3cmd(server, config, "put", str(source / "big.bin"), f"s3://{bucket}/single/big.bin")
    s3cmd(server, config, "get", f"s3://{bucket}/single/big.bin", str(tmp_path / "big.back"))
    assert (tmp_path / "big.back").read_bytes() == files["big.bin"]
    s3cmd(server, config, "sync", f"{source}/", f"s3://{bucket}/synced/")
    listing = s3cmd(server, config, "ls", "-r", f"s3://{bucket}/synced/").stdout
    for name in files:
        assert f"s3://{bucket}/synced/{name}" in listing, listing
    back = tmp_path / "back"
    back.mkdir()
    s3cmd(server, config, "sync", f"s3://{bucket}/synced/", f"{back}/")
    for name, body in files.items():
        assert (back / name).read_bytes() == body, name
    s3cmd(server, config, "del", "--recursive", "--force", f"s3://{bucket}/synced/")
    assert f"s3://{bucket}/synced/" not in s3cmd(server, config, "ls", "-r", f"s3://{bucket}/").stdout


def test_minio_py_objects_multipart_presign_and_listing(server, bucket):
    import io
    import urllib.request

    from minio import Minio
    from minio.commonconfig import CopySource

    client = Minio(server.endpoint.removeprefix("http://"), access_key=ROOT_USER, secret_key=ROOT_PASSWORD, secure=False, region="us-east-1")
    assert client.bucket_exists(bucket)
    small = b"minio-py says hello"
    client.put_object(bucket, "mc/small.txt", io.BytesIO(small), len(small), content_type="text/plain", metadata={"x-amz-meta-team": "edge"})
    # An unknown length streams as multipart in 5 MiB parts.
    large = os.urandom(11 * MIB + 9)
    client.put_object(bucket, "mc/large.bin", io.BytesIO(large), -1, part_size=5 * MIB)
    stat = client.stat_object(bucket, "mc/large.bin")
    assert stat.size == len(large) and stat.etag.endswith("-3")
    response = client.get_object(bucket, "mc/large.bin")
    try:
        assert response.read() == large
    finally:
        response.close()
        response.release_conn()
    assert client.stat_object(bucket, "mc/small.txt").metadata["x-amz-meta-team"] == "edge"
    client.copy_object(bucket, "mc/copy.txt", CopySource(bucket, "mc/small.txt"))
    names = sorted(item.object_name for item in client.list_objects(bucket, prefix="mc/", recursive=True))
    assert names == ["mc/copy.txt", "mc/large.bin", "mc/small.txt"]
    url = client.presigned_get_object(bucket, "mc/small.txt")
    with urllib.request.urlopen(url, timeout=30) as fetched:
        assert fetched.read() == small
    client.remove_object(bucket, "mc/copy.txt")
    assert [item.object_name for item in client.list_objects(bucket, prefix="mc/c")] == []


def test_aws_sdk_for_rust(server):
    """aws-sdk-s3 as an application uses it (tests/sdk-rust, built by `cargo xtask test`): its
    default checksums, paginators, multipart, copies, tags, versions and typed errors."""
    from pathlib import Path

    binary = os.environ.get("SDK_CHECK_BIN") or str(Path(__file__).resolve().parent.parent / "target/sdk-rust/release/sdk-check")
    if not Path(binary).exists():
        pytest.fail(f"{binary} is missing: `cargo xtask test` builds it")
    result = subprocess.run(
        [binary, server.endpoint, ROOT_USER, ROOT_PASSWORD, f"rust-sdk-{os.getpid()}"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
