"""The Spin build: target/compose/spin.wasm, whose drives are key-value stores.

No Spin runtime can be installed here, so two gates stand in for it:
- statically, `cargo xtask spin-check` finds spin.wasm inside Spin 3.6's platform world (and a
  component Spin could not run outside it);
- dynamically, target/compose/spin-local.wasm — the same composition with kv-fs granting the
  key-value stores from files — runs under the stock `wasmtime serve` and is driven with boto3.
"""

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import ROOT_PASSWORD, ROOT_USER, Server, free_port, launch, tessera_binary
from test_standalone import wasmtime_binary

REPO = Path(__file__).resolve().parent.parent
SPIN_LOCAL = REPO / "target/compose/spin-local.wasm"
STORES = ["d1", "d2", "d3", "d4"]
MIB = 1 << 20


def spin_check(component: str) -> subprocess.CompletedProcess:
    return subprocess.run(["cargo", "xtask", "spin-check", component], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_the_spin_build_targets_spins_platform_world():
    accepted = spin_check("target/compose/spin.wasm")
    assert accepted.returncode == 0, accepted.stderr
    assert "targets spin:up/platform@3.6.0" in accepted.stderr
    # The native node imports Tessera's drive, erasure and locks: Spin grants none of them.
    refused = spin_check("target/compose/node.wasm")
    assert refused.returncode != 0
    assert "tessera:node/drive@0.1.0" in refused.stderr


def start_spin_local(work_dir: Path) -> Server:
    kv_root = work_dir / "kv"
    kv_root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [wasmtime_binary(), "serve", "-Scli", "--addr", f"127.0.0.1:{port}", "--dir", f"{kv_root}::/kv"]
    args += ["--env", f"TESSERA_ROOT_USER={ROOT_USER}", "--env", f"TESSERA_ROOT_PASSWORD={ROOT_PASSWORD}", str(SPIN_LOCAL)]
    return launch(args, port, [kv_root / store for store in STORES], work_dir / "wasmtime.log")


@pytest.fixture(scope="module")
def spin_node(tmp_path_factory):
    server = start_spin_local(tmp_path_factory.mktemp("spin"))
    yield server
    server.process.send_signal(signal.SIGINT)
    server.stop()


def test_objects_in_key_value_stores(spin_node):
    s3 = spin_node.client()
    s3.create_bucket(Bucket="kvs")
    small = b"kept in a key-value store"
    large = os.urandom(3 * MIB + 5)
    s3.put_object(Bucket="kvs", Key="docs/small.txt", Body=small)
    s3.put_object(Bucket="kvs", Key="docs/large.bin", Body=large)
    assert s3.get_object(Bucket="kvs", Key="docs/small.txt")["Body"].read() == small
    assert s3.get_object(Bucket="kvs", Key="docs/large.bin")["Body"].read() == large
    ranged = s3.get_object(Bucket="kvs", Key="docs/large.bin", Range=f"bytes={MIB - 3}-{2 * MIB + 3}")
    assert ranged["Body"].read() == large[MIB - 3 : 2 * MIB + 4]
    replaced = os.urandom(MIB + 1)
    s3.put_object(Bucket="kvs", Key="docs/large.bin", Body=replaced)
    assert s3.get_object(Bucket="kvs", Key="docs/large.bin")["Body"].read() == replaced
    listed = s3.list_objects_v2(Bucket="kvs", Prefix="docs/")
    assert [item["Key"] for item in listed["Contents"]] == ["docs/large.bin", "docs/small.txt"]
    s3.delete_object(Bucket="kvs", Key="docs/small.txt")
    assert [item["Key"] for item in s3.list_objects_v2(Bucket="kvs")["Contents"]] == ["docs/large.bin"]
    # Each store holds keys, none of them files of the object layer's tree.
    for store in spin_node.drives:
        assert store.is_dir() and any(store.iterdir())
        assert not (store / "kvs").exists()


def test_multipart_upload_renames_parts_in_the_stores(spin_node):
    s3 = spin_node.client()
    s3.create_bucket(Bucket="parts")
    parts = [os.urandom(5 * MIB), os.urandom(1234)]
    upload = s3.create_multipart_upload(Bucket="parts", Key="big")["UploadId"]
    etags = [
        s3.upload_part(Bucket="parts", Key="big", UploadId=upload, PartNumber=number, Body=body)["ETag"]
        for number, body in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket="parts", Key="big", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]},
    )
    assert s3.get_object(Bucket="parts", Key="big")["Body"].read() == b"".join(parts)
    assert s3.list_multipart_uploads(Bucket="parts").get("Uploads", []) == []


def test_concurrent_writers_share_the_stores(spin_node):
    """Every tree change takes the store's namespace lock (compare-and-swap): parallel requests
    in separate instances lose nothing."""
    s3 = spin_node.client()
    s3.create_bucket(Bucket="busy")
    errors = []

    def writer(worker: int):
        try:
            client = spin_node.client()
            for round_ in range(5):
                key = f"w{worker}/k{round_}"
                client.put_object(Bucket="busy", Key=key, Body=key.encode() * 100)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="busy")["Contents"]]
    assert keys == sorted(f"w{worker}/k{round_}" for worker in range(6) for round_ in range(5))
    for key in keys:
        assert s3.get_object(Bucket="busy", Key=key)["Body"].read() == key.encode() * 100


def test_stores_persist_heal_and_survive_losing_two(tmp_path):
    bodies = {"a": os.urandom(2 * MIB + 3), "b/c": b"small one", "d": os.urandom(700_000)}
    node = start_spin_local(tmp_path)
    try:
        s3 = node.client()
        s3.create_bucket(Bucket="keep")
        for key, body in bodies.items():
            s3.put_object(Bucket="keep", Key=key, Body=body)
    finally:
        node.stop()
    # Store d3 loses everything; the restarted node heals it through the admin API.
    shutil.rmtree(tmp_path / "kv" / "d3")
    node = start_spin_local(tmp_path)
    try:
        env = dict(os.environ, TESSERA_ROOT_USER=ROOT_USER, TESSERA_ROOT_PASSWORD=ROOT_PASSWORD)
        result = subprocess.run(
            [tessera_binary(), "admin", "heal", "--bucket", "keep", "--endpoint", node.endpoint],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "3 scanned · 3 healed" in result.stdout, result.stdout
    finally:
        node.stop()
    # Two other stores gone: the healed one carries its share.
    shutil.rmtree(tmp_path / "kv" / "d1")
    shutil.rmtree(tmp_path / "kv" / "d2")
    node = start_spin_local(tmp_path)
    try:
        s3 = node.client()
        for key, body in bodies.items():
            assert s3.get_object(Bucket="keep", Key=key)["Body"].read() == body
    finally:
        node.stop()


def test_the_spin_manifest_serves_the_checked_build():
    """What `spin up` reads: the manifest points at the component the gate checked, routes every
    path to it, and grants the stores its drives are, each with a runtime-config entry."""
    import tomllib

    folder = REPO / "deploy" / "spin"
    manifest = tomllib.loads((folder / "spin.toml").read_text())
    runtime = tomllib.loads((folder / "runtime-config.toml").read_text())
    assert manifest["spin_manifest_version"] == 2
    assert manifest["trigger"]["http"] == [{"route": "/...", "component": "tessera"}]
    component = manifest["component"]["tessera"]
    assert (folder / component["source"]).resolve() == (REPO / "target/compose/spin.wasm").resolve()
    assert (folder / component["source"]).is_file()
    assert component["key_value_stores"] == STORES
    assert component["environment"]["TESSERA_KV_STORES"].split(",") == STORES
    assert sorted(runtime["key_value_store"]) == STORES
