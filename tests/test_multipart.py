"""Multipart uploads through boto3 and the aws CLI: the whole life cycle, every documented error,
UploadPartCopy, listings, healing of multipart objects, and abandoned uploads expiring."""

import hashlib
import os
import shutil
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT_PASSWORD, ROOT_USER, aws_cli, start_server, tessera_binary

MIB = 1 << 20


def error_code(failure):
    return failure.value.response["Error"]["Code"]


def upload_parts(s3, bucket, key, bodies):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/x-test", Metadata={"origin": "parts"})["UploadId"]
    parts = []
    for number, body in enumerate(bodies, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    return upload_id, parts


def test_life_cycle_etag_ranges_and_metadata(s3, bucket):
    bodies = [os.urandom(5 * MIB), os.urandom(5 * MIB + 123), os.urandom(1)]
    upload_id, parts = upload_parts(s3, bucket, "assembled/object", bodies)
    listed = s3.list_parts(Bucket=bucket, Key="assembled/object", UploadId=upload_id)
    assert [(part["PartNumber"], part["Size"]) for part in listed["Parts"]] == [(1, 5 * MIB), (2, 5 * MIB + 123), (3, 1)]
    assert [part["ETag"] for part in listed["Parts"]] == [f'"{hashlib.md5(body).hexdigest()}"' for body in bodies]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(upload["Key"], upload["UploadId"]) for upload in uploads] == [("assembled/object", upload_id)]
    # Not visible before completion.
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="assembled/object")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    done = s3.complete_multipart_upload(Bucket=bucket, Key="assembled/object", UploadId=upload_id, MultipartUpload={"Parts": parts})
    digests = b"".join(hashlib.md5(body).digest() for body in bodies)
    expected_etag = f'"{hashlib.md5(digests).hexdigest()}-3"'
    assert done["ETag"] == expected_etag
    whole = b"".join(bodies)
    got = s3.get_object(Bucket=bucket, Key="assembled/object")
    assert got["Body"].read() == whole
    assert got["ETag"] == expected_etag
    assert got["ContentType"] == "application/x-test" and got["Metadata"] == {"origin": "parts"}
    # Ranges inside a part, across part boundaries and at the very end.
    for first, last in [(0, 9), (5 * MIB - 5, 5 * MIB + 5), (MIB - 1, 10 * MIB + 122), (len(whole) - 2, len(whole) - 1)]:
        ranged = s3.get_object(Bucket=bucket, Key="assembled/object", Range=f"bytes={first}-{last}")["Body"].read()
        assert ranged == whole[first : last + 1], (first, last)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as gone:
        s3.list_parts(Bucket=bucket, Key="assembled/object", UploadId=upload_id)
    assert error_code(gone) == "NoSuchUpload"


def test_every_documented_completion_error(s3, bucket):
    small = [os.urandom(MIB), os.urandom(MIB)]
    upload_id, parts = upload_parts(s3, bucket, "errors", small)
    with pytest.raises(ClientError) as too_small:
        s3.complete_multipart_upload(Bucket=bucket, Key="errors", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert error_code(too_small) == "EntityTooSmall"
    with pytest.raises(ClientError) as order:
        s3.complete_multipart_upload(Bucket=bucket, Key="errors", UploadId=upload_id, MultipartUpload={"Parts": parts[::-1]})
    assert error_code(order) == "InvalidPartOrder"
    wrong = [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]
    with pytest.raises(ClientError) as invalid:
        s3.complete_multipart_upload(Bucket=bucket, Key="errors", UploadId=upload_id, MultipartUpload={"Parts": wrong})
    assert error_code(invalid) == "InvalidPart"
    never = [{"PartNumber": 7, "ETag": parts[0]["ETag"]}]
    with pytest.raises(ClientError) as not_uploaded:
        s3.complete_multipart_upload(Bucket=bucket, Key="errors", UploadId=upload_id, MultipartUpload={"Parts": never})
    assert error_code(not_uploaded) == "InvalidPart"
    for number in [0, 10001]:
        with pytest.raises(ClientError) as bad_number:
            s3.upload_part(Bucket=bucket, Key="errors", UploadId=upload_id, PartNumber=number, Body=b"x")
        assert error_code(bad_number) == "InvalidArgument"
    # A single small part is a valid object: only parts before the last have a minimum.
    single = s3.complete_multipart_upload(Bucket=bucket, Key="errors", UploadId=upload_id, MultipartUpload={"Parts": parts[:1]})
    assert s3.get_object(Bucket=bucket, Key="errors")["Body"].read() == small[0]
    assert single["ETag"].endswith('-1"')
    for bogus in ["not-an-upload", "../../etc", "0" * 32]:
        with pytest.raises(ClientError) as no_upload:
            s3.upload_part(Bucket=bucket, Key="errors", UploadId=bogus, PartNumber=1, Body=b"x")
        assert error_code(no_upload) == "NoSuchUpload"
    # An upload id belongs to its key.
    other_id, _ = upload_parts(s3, bucket, "mine", [b"a"])
    with pytest.raises(ClientError) as foreign:
        s3.upload_part(Bucket=bucket, Key="not-mine", UploadId=other_id, PartNumber=1, Body=b"x")
    assert error_code(foreign) == "NoSuchUpload"


def test_abort_reupload_and_upload_listing_pages(s3, bucket):
    ids = {}
    for key in ["a/1", "a/2", "b/1", "c"]:
        ids[key] = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    first = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
    assert [upload["Key"] for upload in first["Uploads"]] == ["a/1", "a/2"] and first["IsTruncated"]
    rest = s3.list_multipart_uploads(
        Bucket=bucket, MaxUploads=10, KeyMarker=first["NextKeyMarker"], UploadIdMarker=first["NextUploadIdMarker"]
    )
    assert [upload["Key"] for upload in rest["Uploads"]] == ["b/1", "c"] and not rest["IsTruncated"]
    grouped = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [prefix["Prefix"] for prefix in grouped["CommonPrefixes"]] == ["a/", "b/"]
    assert [upload["Key"] for upload in grouped["Uploads"]] == ["c"]

    # A part uploaded again replaces the earlier one.
    s3.upload_part(Bucket=bucket, Key="c", UploadId=ids["c"], PartNumber=1, Body=b"first try")
    etag = s3.upload_part(Bucket=bucket, Key="c", UploadId=ids["c"], PartNumber=1, Body=b"second try")["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="c", UploadId=ids["c"])["Parts"]
    assert [(part["PartNumber"], part["ETag"], part["Size"]) for part in parts] == [(1, etag, 10)]
    s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=ids["c"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"second try"

    for key in ["a/1", "a/2", "b/1"]:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=ids[key])
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as aborted:
        s3.upload_part(Bucket=bucket, Key="a/1", UploadId=ids["a/1"], PartNumber=1, Body=b"late")
    assert error_code(aborted) == "NoSuchUpload"


def test_upload_part_copy_with_ranges_and_conditions(s3, bucket):
    source = os.urandom(7 * MIB + 11)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    source_etag = s3.head_object(Bucket=bucket, Key="source")["ETag"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="copied")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=f"bytes=0-{5 * MIB - 1}",
        CopySourceIfMatch=source_etag,
    )["CopyPartResult"]["ETag"]
    second = s3.upload_part_copy(
        Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=f"bytes={5 * MIB}-{len(source) - 1}",
    )["CopyPartResult"]["ETag"]
    with pytest.raises(ClientError) as precondition:
        s3.upload_part_copy(
            Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=3,
            CopySource={"Bucket": bucket, "Key": "source"}, CopySourceIfNoneMatch=source_etag,
        )
    assert error_code(precondition) == "PreconditionFailed"
    s3.complete_multipart_upload(
        Bucket=bucket, Key="copied", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]},
    )
    assert s3.get_object(Bucket=bucket, Key="copied")["Body"].read() == source
    with pytest.raises(ClientError) as copy_precondition:
        s3.copy_object(Bucket=bucket, Key="copy-2", CopySource={"Bucket": bucket, "Key": "source"}, CopySourceIfMatch='"0123"')
    assert error_code(copy_precondition) == "PreconditionFailed"


def test_aws_cli_cp_and_sync_of_large_files_use_multipart(server, bucket, tmp_path):
    tree = tmp_path / "tree"
    (tree / "nested" / "deeper").mkdir(parents=True)
    files = {
        "large.bin": os.urandom(21 * MIB + 7),
        "nested/medium.bin": os.urandom(9 * MIB),
        "nested/deeper/small.txt": b"small",
    }
    for name, body in files.items():
        (tree / name).write_bytes(body)
    aws_cli(server, "s3", "cp", str(tree / "large.bin"), f"s3://{bucket}/large.bin")
    aws_cli(server, "s3", "sync", str(tree), f"s3://{bucket}/synced")
    back = tmp_path / "back"
    aws_cli(server, "s3", "sync", f"s3://{bucket}/synced", str(back))
    for name, body in files.items():
        assert (back / name).read_bytes() == body, name
    aws_cli(server, "s3", "cp", f"s3://{bucket}/large.bin", str(tmp_path / "large.back"))
    assert (tmp_path / "large.back").read_bytes() == files["large.bin"]
    head = server.client().head_object(Bucket=bucket, Key="large.bin")
    assert head["ETag"].endswith('-3"'), head["ETag"]  # the CLI's 8 MiB parts
    # A second sync has nothing to do.
    again = aws_cli(server, "s3", "sync", str(tree), f"s3://{bucket}/synced")
    assert "upload:" not in again.stdout


def test_a_multipart_object_heals_and_abandoned_uploads_expire(tmp_path):
    server = start_server(tmp_path, extra_args=("--scan-interval", "0", "--multipart-expiry", "2"))
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="parts")
        bodies = [os.urandom(5 * MIB), os.urandom(3 * MIB + 1)]
        upload_id, parts = upload_parts(s3, "parts", "healed", bodies)
        s3.complete_multipart_upload(Bucket="parts", Key="healed", UploadId=upload_id, MultipartUpload={"Parts": parts})
        abandoned = s3.create_multipart_upload(Bucket="parts", Key="abandoned")["UploadId"]
        s3.upload_part(Bucket="parts", Key="abandoned", UploadId=abandoned, PartNumber=1, Body=b"never completed")
        wiped = server.drives[3]
        shutil.rmtree(wiped / "parts")
        time.sleep(2.5)
        env = dict(os.environ, TESSERA_ROOT_USER=ROOT_USER, TESSERA_ROOT_PASSWORD=ROOT_PASSWORD)
        result = subprocess.run([tessera_binary(), "admin", "heal", "--endpoint", server.endpoint], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "healed parts/healed on drive 4" in result.stdout, result.stdout
        assert "removed 1 abandoned multipart uploads" in result.stdout, result.stdout
        assert s3.list_multipart_uploads(Bucket="parts").get("Uploads", []) == []
        assert all(not (drive / ".tessera" / "multipart" / abandoned).exists() for drive in server.drives)
    finally:
        server.stop()
    # Drives 1 and 2 away: the healed drive 4 and drive 3 alone hold the object.
    away = []
    for drive in server.drives[:2]:
        moved = drive.with_name(drive.name + ".away")
        drive.rename(moved)
        drive.write_bytes(b"not a drive")
        away.append((drive, moved))
    reader = start_server(tmp_path, extra_args=("--scan-interval", "0"))
    try:
        assert reader.client().get_object(Bucket="parts", Key="healed")["Body"].read() == b"".join(bodies)
    finally:
        reader.stop()
        for drive, moved in away:
            drive.unlink()
            moved.rename(drive)


def test_composite_checksums_of_multipart_objects(s3, bucket):
    """An upload created with a checksum algorithm keeps each part's checksum and gives the object
    their composite ("<checksum of the concatenated part checksums>-N", type COMPOSITE)."""
    import base64
    import zlib

    parts = [os.urandom(5 * MIB), os.urandom(1000)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="composite", ChecksumAlgorithm="CRC32")
    assert upload["ChecksumAlgorithm"] == "CRC32"
    upload_id = upload["UploadId"]
    listed = []
    for number, body in enumerate(parts, start=1):
        answer = s3.upload_part(Bucket=bucket, Key="composite", UploadId=upload_id, PartNumber=number, Body=body, ChecksumAlgorithm="CRC32")
        crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
        assert answer["ChecksumCRC32"] == crc
        listed.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumCRC32": crc})
    stored = s3.list_parts(Bucket=bucket, Key="composite", UploadId=upload_id)
    assert stored["ChecksumAlgorithm"] == "CRC32"
    assert [part["ChecksumCRC32"] for part in stored["Parts"]] == [part["ChecksumCRC32"] for part in listed]
    # A listed checksum that is not the part's is refused, and the upload stays.
    wrong = [dict(listed[0], ChecksumCRC32="AAAAAA=="), listed[1]]
    with pytest.raises(ClientError) as refused:
        s3.complete_multipart_upload(Bucket=bucket, Key="composite", UploadId=upload_id, MultipartUpload={"Parts": wrong})
    assert refused.value.response["Error"]["Code"] == "InvalidPart"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="composite", UploadId=upload_id, MultipartUpload={"Parts": listed})
    raw = b"".join(base64.b64decode(part["ChecksumCRC32"]) for part in listed)
    expected = base64.b64encode(zlib.crc32(raw).to_bytes(4, "big")).decode() + "-2"
    assert done["ChecksumCRC32"] == expected
    head = s3.head_object(Bucket=bucket, Key="composite", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == expected and head["ChecksumType"] == "COMPOSITE"
    assert s3.get_object(Bucket=bucket, Key="composite")["Body"].read() == b"".join(parts)
    single = s3.put_object(Bucket=bucket, Key="single", Body=b"whole", ChecksumAlgorithm="CRC32")
    assert s3.head_object(Bucket=bucket, Key="single", ChecksumMode="ENABLED")["ChecksumType"] == "FULL_OBJECT"
    assert single["ChecksumCRC32"]


def test_a_part_without_the_uploads_checksum_is_refused(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mixed", ChecksumAlgorithm="SHA256")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mixed", UploadId=upload_id, PartNumber=1, Body=b"x" * 100, ChecksumAlgorithm="CRC32")["ETag"]
    with pytest.raises(ClientError) as refused:
        s3.complete_multipart_upload(Bucket=bucket, Key="mixed", UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert refused.value.response["Error"]["Code"] == "InvalidPart"
    assert "sha256" in refused.value.response["Error"]["Message"]
    # Full-object checksums of multipart uploads are not composed here: refused up front.
    with pytest.raises(ClientError) as refused:
        s3.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    assert refused.value.response["Error"]["Code"] == "NotImplemented"


def test_copied_parts_carry_the_uploads_checksum_and_copies_drop_composites(s3, bucket):
    import base64
    import zlib

    source = os.urandom(6 * MIB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled", ChecksumAlgorithm="CRC32")["UploadId"]
    copied = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=1,
                                 CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=f"bytes=0-{5 * MIB - 1}")
    crc = base64.b64encode(zlib.crc32(source[:5 * MIB]).to_bytes(4, "big")).decode()
    assert copied["CopyPartResult"]["ChecksumCRC32"] == crc
    tail = s3.upload_part(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=2, Body=b"tail", ChecksumAlgorithm="CRC32")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=upload_id, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": copied["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": tail["ETag"]}]})
    assert done["ChecksumCRC32"].endswith("-2")
    # A copy is one upload: the source's composite does not describe it.
    s3.copy_object(Bucket=bucket, Key="flat", CopySource={"Bucket": bucket, "Key": "assembled"})
    head = s3.head_object(Bucket=bucket, Key="flat", ChecksumMode="ENABLED")
    assert "ChecksumCRC32" not in head
    assert s3.get_object(Bucket=bucket, Key="flat")["Body"].read() == source[:5 * MIB] + b"tail"
    with pytest.raises(ClientError) as refused:
        s3.create_multipart_upload(Bucket=bucket, Key="nvme", ChecksumAlgorithm="CRC64NVME")
    assert refused.value.response["Error"]["Code"] == "InvalidRequest"
