"""Durability: bitrot, wiped and lost drives, write quorum, crashes, concurrent writers, and
metadata that rots. Each test runs its own server over its own drives, because each damages
them. Background scans are off (`--scan-interval 0`) so that `tessera admin heal` is what heals,
except where a test checks the background healing itself."""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
import urllib.error

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT_PASSWORD, ROOT_USER, start_server, tessera_binary

MIB = 1 << 20
NO_SCAN = ("--scan-interval", "0")


def admin(server, *args, check=True, user=ROOT_USER, password=ROOT_PASSWORD):
    env = dict(os.environ, TESSERA_ROOT_USER=user, TESSERA_ROOT_PASSWORD=password)
    result = subprocess.run(
        [tessera_binary(), "admin", *args, "--endpoint", server.endpoint],
        env=env, capture_output=True, text=True, timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"tessera admin {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def heal_report(output):
    """The totals of `tessera admin heal`'s report line."""
    line = next(line for line in output.splitlines() if line.startswith("Heal"))
    totals = {}
    for part in line.split(":", 1)[1].rstrip(".").split("·"):
        count, name = part.strip().split(" ", 1)
        totals[name] = int(count)
    return totals


def shard_files(drive, bucket, key):
    directory = drive / bucket / key
    return [path / "part.1" for path in directory.iterdir() if path.is_dir() and path.name.startswith(".")]


def flip_bytes(path, every=4096):
    data = bytearray(path.read_bytes())
    for index in range(7, len(data), every):
        data[index] ^= 0xA5
    path.write_bytes(bytes(data))


def take_offline(drive):
    """Replaces a drive folder by a file: the server cannot use it (at start or later)."""
    away = drive.with_name(drive.name + ".away")
    drive.rename(away)
    drive.write_bytes(b"not a drive")
    return away


def bring_back(drive, away):
    drive.unlink()
    away.rename(drive)


def put_objects(s3, bucket, sizes):
    bodies = {}
    for index, size in enumerate(sizes):
        key = f"dir{index % 3}/object-{index}"
        bodies[key] = os.urandom(size)
        s3.put_object(Bucket=bucket, Key=key, Body=bodies[key])
    return bodies


def assert_all_read_back(s3, bucket, bodies):
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
    listed = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert listed == sorted(bodies), listed


SIZES = [0, 1, 100 << 10, (128 << 10) + 1, 3 * MIB + 5, 5 * MIB]


def test_flipped_shard_bytes_read_correctly_and_heal_repairs_them(tmp_path):
    server = start_server(tmp_path, extra_args=NO_SCAN)
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="rot")
        bodies = put_objects(s3, "rot", SIZES)
        first = server.drives[0]
        damaged = 0
        for key in bodies:
            files = shard_files(first, "rot", key) or [first / "rot" / key / ".meta"]
            for path in files:
                flip_bytes(path)
                damaged += 1
        assert damaged == len(bodies)
        # Every read verifies hashes: the damage is never served.
        assert_all_read_back(s3, "rot", bodies)

        result = admin(server, "heal", "--deep")
        report = heal_report(result.stdout)
        assert report["scanned"] == len(bodies), result.stdout
        assert report["unrecoverable"] == 0, result.stdout
        # Reads queued what they met; the queue or the deep scan healed every damaged object.
        again = heal_report(admin(server, "heal", "--deep").stdout)
        assert again["healed"] == 0 and again["unrecoverable"] == 0, again
    finally:
        server.stop()

    # The repaired drive plus one other are the only drives left: every block must come from
    # them, so every repaired shard is read and checked.
    away = [take_offline(drive) for drive in server.drives[2:]]
    reader = start_server(tmp_path, extra_args=NO_SCAN)
    try:
        assert_all_read_back(reader.client(), "rot", bodies)
    finally:
        reader.stop()
        for drive, moved in zip(server.drives[2:], away):
            bring_back(drive, moved)


def test_a_wiped_drive_is_restored_by_heal_and_then_two_others_can_be_lost(tmp_path):
    server = start_server(tmp_path, extra_args=NO_SCAN)
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="wipe")
        bodies = put_objects(s3, "wipe", SIZES + [2 * MIB, 7])
        wiped = server.drives[1]
        shutil.rmtree(wiped)
        wiped.mkdir()
        result = admin(server, "heal")
        report = heal_report(result.stdout)
        assert report == {"scanned": len(bodies), "healed": len(bodies), "dangling removed": 0, "unrecoverable": 0, "expired": 0}, result.stdout
        assert "healed wipe/" in result.stdout
        assert (wiped / "wipe" / ".bucket").exists()
    finally:
        server.stop()

    # Only the restored drive and one more: the objects must still read identical.
    lost = [server.drives[0], server.drives[2]]
    away = [take_offline(drive) for drive in lost]
    survivor = start_server(tmp_path, extra_args=NO_SCAN)
    try:
        assert_all_read_back(survivor.client(), "wipe", bodies)
        info = admin(survivor, "info").stdout
        assert info.count("OFFLINE") == 2, info
        assert "BELOW WRITE QUORUM" in info, info
    finally:
        survivor.stop()
        for drive, moved in zip(lost, away):
            bring_back(drive, moved)


def test_writes_below_write_quorum_fail_cleanly_and_a_returning_drive_is_healed(tmp_path):
    server = start_server(tmp_path)
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="quorum")
        d3, d4 = server.drives[2], server.drives[3]

        # One drive away: writes still have their quorum of three.
        away3 = take_offline(d3)
        s3.put_object(Bucket="quorum", Key="while-away/large", Body=b"L" * (2 * MIB))
        s3.put_object(Bucket="quorum", Key="while-away/small", Body=b"small")
        health = urllib.request.urlopen(f"{server.endpoint}/_tessera/health/cluster", timeout=10)
        assert health.status == 200
        assert [drive["state"] for drive in json.load(health)["drives"]].count("offline") == 1

        # Two drives away: below quorum, every write fails with 503 and leaves nothing.
        away4 = take_offline(d4)
        for key, body in [("lost/large", b"x" * (3 * MIB)), ("lost/small", b"y" * 100)]:
            with pytest.raises(ClientError) as failure:
                s3.put_object(Bucket="quorum", Key=key, Body=body)
            assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503, failure.value.response
        with pytest.raises(urllib.error.HTTPError) as unhealthy:
            urllib.request.urlopen(f"{server.endpoint}/_tessera/health/cluster", timeout=10)
        assert unhealthy.value.code == 503
        # Reads still have their quorum of two.
        assert s3.get_object(Bucket="quorum", Key="while-away/large")["Body"].read() == b"L" * (2 * MIB)

        bring_back(d4, away4)
        bring_back(d3, away3)
        # The prober brings them back within seconds and a scan heals what they missed.
        deadline = time.monotonic() + 60
        restored = [d3 / "quorum" / "while-away" / "large" / ".meta", d3 / "quorum" / "while-away" / "small" / ".meta"]
        while not all(path.exists() for path in restored):
            assert time.monotonic() < deadline, f"not healed onto the returning drive:\n{server.log()}"
            time.sleep(0.5)
        for key in ["lost/large", "lost/small"]:
            with pytest.raises(ClientError) as missing:
                s3.head_object(Bucket="quorum", Key=key)
            assert missing.value.response["Error"]["Code"] == "404"
        for drive in server.drives:
            assert not (drive / "quorum" / "lost").exists() or not any((drive / "quorum" / "lost").rglob("*")), drive
        assert "drive back online" in server.log()
    finally:
        server.stop()
    assert "panicked" not in server.log()


def content(size, rng):
    """A body that carries its own SHA-256: any torn or mixed read is detectable."""
    payload = rng.randbytes(size)
    return hashlib.sha256(payload).digest() + payload


def is_whole(body):
    return len(body) >= 32 and hashlib.sha256(body[32:]).digest() == body[:32]


def test_sigkill_during_overwrites_leaves_old_or_new_never_a_mix(tmp_path):
    rng = random.Random(20261124)
    keys = [f"crash/key-{index}" for index in range(4)]
    server = start_server(tmp_path, extra_args=NO_SCAN)
    s3 = server.client()
    s3.create_bucket(Bucket="crash")
    current = {}
    for key in keys:
        current[key] = content(3 * MIB, rng)
        s3.put_object(Bucket="crash", Key=key, Body=current[key])

    for round_number in range(8):
        # Every key is overwritten by a writer; the server dies at a random moment.
        candidates = {key: {hashlib.sha256(current[key]).hexdigest()} for key in keys}
        bodies = {key: content(rng.choice([2 * MIB, 6 * MIB + 7, 100 << 10]), rng) for key in keys}
        for key in keys:
            candidates[key].add(hashlib.sha256(bodies[key]).hexdigest())

        def overwrite(key, client=server.client()):
            try:
                client.put_object(Bucket="crash", Key=key, Body=bodies[key])
            except Exception:
                pass  # the server died under it

        writers = [threading.Thread(target=overwrite, args=(key,)) for key in keys]
        for writer in writers:
            writer.start()
        time.sleep(rng.uniform(0.02, 0.6))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)
        for writer in writers:
            writer.join(timeout=60)

        server = start_server(tmp_path, extra_args=NO_SCAN)
        for drive in server.drives:
            temp = drive / ".tessera" / "tmp"
            assert not any(temp.iterdir()), f"round {round_number}: temp not clean on {drive}"
        s3 = server.client()
        listed = [item["Key"] for item in s3.list_objects_v2(Bucket="crash").get("Contents", [])]
        assert listed == keys, f"round {round_number}: listing {listed}"
        for key in keys:
            body = s3.get_object(Bucket="crash", Key=key)["Body"].read()
            assert is_whole(body), f"round {round_number}: {key} is torn"
            assert hashlib.sha256(body).hexdigest() in candidates[key], f"round {round_number}: {key} is neither old nor new"
            current[key] = body
    # Whatever the crashes left half-done, a heal settles without losing anything.
    report = heal_report(admin(server, "heal").stdout)
    assert report["unrecoverable"] == 0, report
    for key in keys:
        assert s3.get_object(Bucket="crash", Key=key)["Body"].read() == current[key]
    server.stop()


def test_32_concurrent_writers_and_readers_on_overlapping_keys(tmp_path):
    server = start_server(tmp_path, extra_args=NO_SCAN)
    keys = [f"hot/key-{index}" for index in range(6)]
    setup = server.client()
    setup.create_bucket(Bucket="race")
    for key in keys:
        setup.put_object(Bucket="race", Key=key, Body=content(1000, random.Random(key)))
    written = {key: set() for key in keys}
    failures = []
    counts = {"put": 0, "get": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + 12

    def worker(number):
        rng = random.Random(number)
        client = server.client()
        while time.monotonic() < stop_at:
            key = rng.choice(keys)
            try:
                if rng.random() < 0.4:
                    body = content(rng.choice([10, 50_000, 200_000, 1_500_000, 2 * MIB + 3]), rng)
                    client.put_object(Bucket="race", Key=key, Body=body)
                    with lock:
                        written[key].add(hashlib.sha256(body).hexdigest())
                        counts["put"] += 1
                else:
                    body = client.get_object(Bucket="race", Key=key)["Body"].read()
                    if not is_whole(body):
                        failures.append(f"{key}: incomplete body of {len(body)} bytes")
                    with lock:
                        counts["get"] += 1
            except Exception as error:  # noqa: BLE001 - every failure is reported below
                failures.append(f"{key}: {error!r}")

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert not failures, failures[:10]
        # A floor that proves the workers ran, not a speed target.
        assert counts["put"] >= 10 and counts["get"] >= 10, counts
        for key in keys:
            body = setup.get_object(Bucket="race", Key=key)["Body"].read()
            assert is_whole(body)
            assert hashlib.sha256(body).hexdigest() in written[key] or not written[key]
        listed = [item["Key"] for item in setup.list_objects_v2(Bucket="race").get("Contents", [])]
        assert listed == keys
        # Each overwrite removed the data it replaced: at most one data directory per object.
        for drive in server.drives:
            for key in keys:
                data_dirs = [entry for entry in (drive / "race" / key).iterdir() if entry.is_dir()]
                assert len(data_dirs) <= 1, (drive, key, data_dirs)
    finally:
        server.stop()
    assert "panicked" not in server.log()


def test_rotten_or_truncated_metadata_never_blocks_new_writes(tmp_path):
    server = start_server(tmp_path, extra_args=NO_SCAN)
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="meta")
        s3.put_object(Bucket="meta", Key="rotten", Body=os.urandom(2 * MIB))
        s3.put_object(Bucket="meta", Key="truncated", Body=b"small")
        for drive in server.drives:
            flip_bytes(drive / "meta" / "rotten" / ".meta", every=50)
            # The crash MinIO lost objects to: metadata truncated, never rewritten.
            (drive / "meta" / "truncated" / ".meta").write_bytes(b"")
        for key in ["rotten", "truncated"]:
            with pytest.raises(ClientError) as missing:
                s3.get_object(Bucket="meta", Key=key)
            assert missing.value.response["Error"]["Code"] == "NoSuchKey"
            s3.put_object(Bucket="meta", Key=key, Body=b"fresh " + key.encode())
            assert s3.get_object(Bucket="meta", Key=key)["Body"].read() == b"fresh " + key.encode()
        report = heal_report(admin(server, "heal", "--deep").stdout)
        assert report["unrecoverable"] == 0 and report["scanned"] == 2, report
    finally:
        server.stop()


def test_admin_api_needs_the_root_user(tmp_path):
    server = start_server(tmp_path, extra_args=NO_SCAN)
    try:
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            urllib.request.urlopen(urllib.request.Request(f"{server.endpoint}/_tessera/admin/v1/heal", method="POST"), timeout=10)
        assert anonymous.value.code == 403
        assert b"AccessDenied" in anonymous.value.read()
        wrong = admin(server, "info", check=False, user="someone-else", password="not-the-secret")
        assert wrong.returncode == 1 and "InvalidAccessKeyId" in wrong.stderr, wrong.stderr
        bad_secret = admin(server, "heal", check=False, password="wrong-secret-0123456789")
        assert bad_secret.returncode == 1 and "SignatureDoesNotMatch" in bad_secret.stderr, bad_secret.stderr
        info = admin(server, "info").stdout
        assert "2 data + 2 parity" in info and info.count("online") >= 4, info
    finally:
        server.stop()
