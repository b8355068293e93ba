"""Real clients beyond boto3 and the aws CLI: rclone (sync + check, multipart) and s3cmd (put,
get, ls, sync, del, multipart). `cargo xtask test` installs both with apt when missing."""

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
