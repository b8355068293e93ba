"""The node with no Tessera host: target/compose/standalone.wasm under the stock
`wasmtime serve`, drives as preopened directories, erasure coding in Wasm SIMD128 — and the same
on-disk format as `tessera serve`, both ways."""

import os
import shutil
import signal
from pathlib import Path

import pytest

from conftest import ROOT_PASSWORD, ROOT_USER, Server, free_port, launch, start_server

STANDALONE = Path(__file__).resolve().parent.parent / "target/compose/standalone.wasm"
MIB = 1 << 20


def wasmtime_binary() -> str:
    binary = os.environ.get("WASMTIME_BIN") or shutil.which("wasmtime")
    if not binary:
        pytest.fail("the wasmtime CLI is missing: `cargo xtask test` installs it")
    return binary


def start_wasmtime_serve(work_dir: Path) -> Server:
    drives = [work_dir / f"d{index}" for index in range(1, 5)]
    for drive in drives:
        drive.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [wasmtime_binary(), "serve", "-Scli", "--addr", f"127.0.0.1:{port}"]
    for index, drive in enumerate(drives, start=1):
        args += ["--dir", f"{drive}::/d{index}"]
    args += ["--env", f"TESSERA_ROOT_USER={ROOT_USER}", "--env", f"TESSERA_ROOT_PASSWORD={ROOT_PASSWORD}", str(STANDALONE)]
    return launch(args, port, drives, work_dir / "wasmtime.log")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    server = start_wasmtime_serve(tmp_path_factory.mktemp("standalone"))
    yield server
    server.process.send_signal(signal.SIGINT)
    server.stop()


def test_buckets_and_objects_under_wasmtime_serve(standalone):
    s3 = standalone.client()
    s3.create_bucket(Bucket="edge")
    assert "edge" in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
    small = b"hello from pure wasm"
    large = os.urandom(3 * MIB + 5)
    s3.put_object(Bucket="edge", Key="docs/small.txt", Body=small)
    s3.put_object(Bucket="edge", Key="docs/large.bin", Body=large)
    assert s3.get_object(Bucket="edge", Key="docs/small.txt")["Body"].read() == small
    assert s3.get_object(Bucket="edge", Key="docs/large.bin")["Body"].read() == large
    ranged = s3.get_object(Bucket="edge", Key="docs/large.bin", Range=f"bytes={MIB - 3}-{2 * MIB + 3}")
    assert ranged["Body"].read() == large[MIB - 3 : 2 * MIB + 4]
    listed = s3.list_objects_v2(Bucket="edge", Prefix="docs/")
    assert [item["Key"] for item in listed["Contents"]] == ["docs/large.bin", "docs/small.txt"]
    s3.delete_object(Bucket="edge", Key="docs/small.txt")
    assert [item["Key"] for item in s3.list_objects_v2(Bucket="edge")["Contents"]] == ["docs/large.bin"]
    # Every drive holds a share, as under the native host.
    for drive in standalone.drives:
        assert (drive / "edge" / "docs" / "large.bin" / ".meta").exists()


def test_one_format_both_ways(tmp_path):
    """Objects written by `tessera serve` read under `wasmtime serve` over the same folders, and
    the other way round."""
    native_body = os.urandom(2 * MIB + 7)
    wasm_body = os.urandom(3 * MIB + 11)
    native = start_server(tmp_path)
    try:
        s3 = native.client()
        s3.create_bucket(Bucket="shared")
        s3.put_object(Bucket="shared", Key="from-native", Body=native_body)
    finally:
        native.stop()
    edge = start_wasmtime_serve(tmp_path)
    try:
        s3 = edge.client()
        assert s3.get_object(Bucket="shared", Key="from-native")["Body"].read() == native_body
        s3.put_object(Bucket="shared", Key="from-wasm", Body=wasm_body)
    finally:
        edge.stop()
    native = start_server(tmp_path)
    try:
        s3 = native.client()
        assert s3.get_object(Bucket="shared", Key="from-wasm")["Body"].read() == wasm_body
        # Shards written by the Wasm engine rebuild natively: lose two drives' files.
        for drive in native.drives[:2]:
            shutil.rmtree(drive / "shared" / "from-wasm")
        assert s3.get_object(Bucket="shared", Key="from-wasm")["Body"].read() == wasm_body
    finally:
        native.stop()


def test_maintenance_through_the_admin_api_under_wasmtime_serve(standalone):
    """No host scheduler under `wasmtime serve`: the admin API heals, as a cron would call it."""
    import json
    import subprocess
    import urllib.request

    from conftest import tessera_binary

    s3 = standalone.client()
    s3.create_bucket(Bucket="cron")
    bodies = {"a/small": b"s" * 1000, "a/large": os.urandom(2 * MIB + 1), "b": os.urandom(300_000)}
    for key, body in bodies.items():
        s3.put_object(Bucket="cron", Key=key, Body=body)
    # Drive 3's folder is emptied (a preopen must stay a directory).
    wiped = standalone.drives[2]
    for entry in wiped.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    env = dict(os.environ, TESSERA_ROOT_USER=ROOT_USER, TESSERA_ROOT_PASSWORD=ROOT_PASSWORD)
    result = subprocess.run(
        [tessera_binary(), "admin", "heal", "--bucket", "cron", "--endpoint", standalone.endpoint],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 scanned · 3 healed" in result.stdout, result.stdout
    assert all((wiped / "cron" / key / ".meta").exists() for key in bodies)
    assert (wiped / "cron" / ".bucket").exists()
    health = json.load(urllib.request.urlopen(f"{standalone.endpoint}/_tessera/health/cluster", timeout=30))
    assert [drive["state"] for drive in health["drives"]] == ["online"] * 4
    assert [drive["label"] for drive in health["drives"]] == ["/d1", "/d2", "/d3", "/d4"]
    for key, body in bodies.items():
        assert s3.get_object(Bucket="cron", Key=key)["Body"].read() == body


def test_a_heal_pass_sweeps_stale_temp_files(standalone):
    """Temp files of writes that died (no host empties temp under `wasmtime serve`) go after a
    day; younger ones may still be streaming and stay."""
    import subprocess
    import time

    from conftest import tessera_binary

    temp = standalone.drives[1] / ".tessera" / "tmp"
    temp.mkdir(parents=True, exist_ok=True)
    stale, fresh = temp / "died-yesterday", temp / "still-streaming"
    stale.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"y" * 1000)
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    env = dict(os.environ, TESSERA_ROOT_USER=ROOT_USER, TESSERA_ROOT_PASSWORD=ROOT_PASSWORD)
    result = subprocess.run(
        [tessera_binary(), "admin", "heal", "--verbose", "--endpoint", standalone.endpoint],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removed 1 stale temp files" in result.stdout, result.stdout
    assert not stale.exists()
    assert fresh.exists()


def test_replication_under_wasmtime_serve_is_drained_through_the_admin_api(standalone, tmp_path):
    """No host scheduler here: `tessera admin replicate drain` (a cron's job) sends the queue
    over wasmtime's outgoing HTTP to a native node."""
    import json
    import subprocess

    from conftest import tessera_binary

    target = start_server(tmp_path)
    env = dict(os.environ, TESSERA_ROOT_USER=ROOT_USER, TESSERA_ROOT_PASSWORD=ROOT_PASSWORD)

    def admin(*args):
        result = subprocess.run([tessera_binary(), "admin", *args, "--endpoint", standalone.endpoint],
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return result.stdout

    try:
        s3, s3_target = standalone.client(), target.client()
        s3.create_bucket(Bucket="edge-out")
        s3_target.create_bucket(Bucket="edge-in")
        admin("replicate", "add", "--bucket", "edge-out", "--target", target.endpoint, "--target-bucket", "edge-in",
              "--target-access-key", ROOT_USER, "--target-secret-key", ROOT_PASSWORD)
        body = os.urandom(2 * MIB + 1)
        s3.put_object(Bucket="edge-out", Key="from-the-edge", Body=body)
        assert json.loads(admin("replicate", "status", "--bucket", "edge-out"))["pending"] == 1
        assert "1 sent, 0 failed" in admin("replicate", "drain")
        assert s3_target.get_object(Bucket="edge-in", Key="from-the-edge")["Body"].read() == body
        assert s3.head_object(Bucket="edge-out", Key="from-the-edge")["ReplicationStatus"] == "COMPLETED"
    finally:
        target.stop()
