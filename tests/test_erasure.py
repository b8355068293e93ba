"""Erasure coding on real drives: every drive holds a share, none the whole, and any two of the
four drives can lose an object's files without the object changing."""

import itertools
import os
import shutil

MIB = 1 << 20


def object_dirs(server, bucket, key):
    return [drive / bucket / key for drive in server.drives]


def shard_files(server, bucket, key):
    files = []
    for directory in object_dirs(server, bucket, key):
        data_dirs = [entry for entry in directory.iterdir() if entry.is_dir() and entry.name.startswith(".")]
        assert len(data_dirs) == 1, f"{directory}: {list(directory.iterdir())}"
        files.append(data_dirs[0] / "part.1")
    return files


def test_every_drive_holds_a_share_and_none_the_whole(server, s3, bucket):
    size = 20 * MIB + 3
    body = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="large", Body=body)
    sizes = [path.stat().st_size for path in shard_files(server, bucket, "large")]
    blocks = 21  # 20 full 1 MiB blocks and one of 3 bytes
    hash_bytes = 32
    # 2 data + 2 parity: each drive holds half of every block, plus a 32-byte hash per block.
    expected = 20 * (MIB // 2 + hash_bytes) + (2 + hash_bytes)
    assert sizes == [expected] * 4
    assert all(size < len(body) for size in sizes)
    for path in shard_files(server, bucket, "large"):
        # No drive holds a whole megabyte of the object in one piece.
        assert body[: MIB] not in path.read_bytes()


def test_small_objects_live_inline_in_the_metadata(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="small", Body=b"tiny object")
    for directory in object_dirs(server, bucket, "small"):
        assert sorted(entry.name for entry in directory.iterdir()) == [".meta"]


def test_losing_any_two_drives_files_keeps_the_bytes(server, s3, bucket):
    for pair in itertools.combinations(range(4), 2):
        for size in (3 * MIB + 17, 1000):
            key = f"loss-{pair[0]}{pair[1]}-{size}"
            body = os.urandom(size)
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            for index in pair:
                shutil.rmtree(server.drives[index] / bucket / key)
            got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert got == body, f"drives {pair} emptied, {size} bytes"
            ranged = s3.get_object(Bucket=bucket, Key=key, Range="bytes=5-900")["Body"].read()
            assert ranged == body[5:901]
            assert key in [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]]


def test_corrupt_shard_bytes_are_detected_and_repaired_on_read(server, s3, bucket):
    body = os.urandom(4 * MIB)
    s3.put_object(Bucket=bucket, Key="rot", Body=body)
    for path in shard_files(server, bucket, "rot")[:2]:
        data = bytearray(path.read_bytes())
        for offset in range(100, len(data), 300_000):
            data[offset] ^= 0xFF
        path.write_bytes(bytes(data))
    assert s3.get_object(Bucket=bucket, Key="rot")["Body"].read() == body


def test_losing_three_drives_is_an_error_not_wrong_bytes(server, s3, bucket):
    body = os.urandom(2 * MIB)
    s3.put_object(Bucket=bucket, Key="gone", Body=body)
    for drive in server.drives[:3]:
        shutil.rmtree(drive / bucket / "gone")
    try:
        got = s3.get_object(Bucket=bucket, Key="gone")["Body"].read()
    except Exception as error:  # noqa: BLE001 - any S3 error is right; wrong bytes are not
        status = getattr(error, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        assert status in (404, 503), error
    else:
        raise AssertionError(f"read {len(got)} bytes of an object that lost three of four drives")
