"""Bucket versioning: version ids, delete markers, reads and deletes by version, listing of
versions, suspended buckets, and healing that keeps every version — through boto3."""

import os
import shutil
import subprocess

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import ROOT_PASSWORD, ROOT_USER, start_server, tessera_binary


def versioned(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def error_of(call):
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response


def all_versions(s3, bucket, **kwargs):
    answer = s3.list_object_versions(Bucket=bucket, **kwargs)
    return answer.get("Versions", []), answer.get("DeleteMarkers", [])


def test_versions_are_kept_and_read_by_id(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    versioned(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    bodies = [b"first", os.urandom(300_000), os.urandom(2 << 20)]
    ids = [s3.put_object(Bucket=bucket, Key="doc", Body=body)["VersionId"] for body in bodies]
    assert len(set(ids)) == 3 and "null" not in ids
    latest = s3.get_object(Bucket=bucket, Key="doc")
    assert latest["Body"].read() == bodies[2] and latest["VersionId"] == ids[2]
    for version_id, body in zip(ids, bodies):
        assert s3.get_object(Bucket=bucket, Key="doc", VersionId=version_id)["Body"].read() == body
        head = s3.head_object(Bucket=bucket, Key="doc", VersionId=version_id)
        assert head["ContentLength"] == len(body) and head["VersionId"] == version_id
    ranged = s3.get_object(Bucket=bucket, Key="doc", VersionId=ids[1], Range="bytes=10-19")["Body"].read()
    assert ranged == bodies[1][10:20]
    versions, markers = all_versions(s3, bucket)
    assert [(v["VersionId"], v["IsLatest"], v["Size"]) for v in versions] == [
        (ids[2], True, len(bodies[2])), (ids[1], False, len(bodies[1])), (ids[0], False, len(bodies[0]))]
    assert markers == []
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="doc", VersionId="0" * 32))["Error"]["Code"] == "NoSuchVersion"


def test_delete_markers_hide_and_reveal(s3, bucket):
    versioned(s3, bucket)
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    missing = error_of(lambda: s3.get_object(Bucket=bucket, Key="k"))
    assert missing["Error"]["Code"] == "NoSuchKey"
    assert missing["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    versions, markers = all_versions(s3, bucket)
    assert [(m["VersionId"], m["IsLatest"]) for m in markers] == [(marker, True)]
    assert [v["VersionId"] for v in versions] == [second, first]
    assert not any(v["IsLatest"] for v in versions)
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=first)["Body"].read() == b"one"
    named = error_of(lambda: s3.head_object(Bucket=bucket, Key="k", VersionId=marker))
    assert named["ResponseMetadata"]["HTTPStatusCode"] == 405
    # Removing the marker brings the object back.
    removed = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert removed["DeleteMarker"] is True and removed["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    assert [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]


def test_deleting_a_version_removes_it_for_good(server, s3, bucket):
    versioned(s3, bucket)
    big = os.urandom(1 << 20)
    old = s3.put_object(Bucket=bucket, Key="big", Body=big)["VersionId"]
    new = s3.put_object(Bucket=bucket, Key="big", Body=b"small now")["VersionId"]
    data_dirs = lambda: sum(1 for drive in server.drives for path in (drive / bucket / "big").iterdir() if path.is_dir())
    assert data_dirs() == len(server.drives)
    s3.delete_object(Bucket=bucket, Key="big", VersionId=old)
    assert data_dirs() == 0
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="big", VersionId=old))["Error"]["Code"] == "NoSuchVersion"
    versions, _ = all_versions(s3, bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(new, True)]
    s3.delete_object(Bucket=bucket, Key="big", VersionId=new)
    assert all_versions(s3, bucket) == ([], [])
    assert not any((drive / bucket / "big").exists() for drive in server.drives)
    s3.delete_bucket(Bucket=bucket)


def test_suspended_buckets_write_the_null_version(s3, bucket):
    versioned(s3, bucket)
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    s3.put_object(Bucket=bucket, Key="k", Body=b"null one")
    s3.put_object(Bucket=bucket, Key="k", Body=b"null two")
    versions, _ = all_versions(s3, bucket)
    assert [v["VersionId"] for v in versions] == ["null", kept]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"null two"
    marker = s3.delete_object(Bucket=bucket, Key="k")
    assert marker["DeleteMarker"] is True
    versions, markers = all_versions(s3, bucket)
    assert [m["VersionId"] for m in markers] == ["null"] and [v["VersionId"] for v in versions] == [kept]
    # Versioning can be suspended, never removed.
    assert error_of(lambda: s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={}))["Error"]["Code"] == "MalformedXML"


def test_unversioned_buckets_have_one_null_version(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"2")
    assert "VersionId" not in put
    versions, markers = all_versions(s3, bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True)] and markers == []
    assert "DeleteMarker" not in s3.delete_object(Bucket=bucket, Key="k")
    assert all_versions(s3, bucket) == ([], [])


def test_listing_versions_pages_by_key_and_version(s3, bucket):
    versioned(s3, bucket)
    expected = []
    for key in ["a", "b/c", "d"]:
        ids = [s3.put_object(Bucket=bucket, Key=key, Body=f"{key}{n}".encode())["VersionId"] for n in range(3)]
        expected += [(key, version_id) for version_id in reversed(ids)]
    seen, kwargs = [], {}
    for _ in range(20):
        answer = s3.list_object_versions(Bucket=bucket, MaxKeys=2, **kwargs)
        seen += [(v["Key"], v["VersionId"]) for v in answer.get("Versions", [])]
        if not answer["IsTruncated"]:
            break
        kwargs = {"KeyMarker": answer["NextKeyMarker"], "VersionIdMarker": answer["NextVersionIdMarker"]}
    assert seen == expected
    grouped = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["b/"]
    assert {v["Key"] for v in grouped["Versions"]} == {"a", "d"}


def test_copy_and_delete_many_by_version(s3, bucket):
    versioned(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="src", Body=b"old source")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"new source")
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": old})
    assert copied["CopySourceVersionId"] == old
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"old source"
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "dst"}, {"Key": "src", "VersionId": old}]})
    by_key = {item["Key"]: item for item in answer["Deleted"]}
    assert by_key["dst"]["DeleteMarker"] is True and by_key["dst"]["DeleteMarkerVersionId"]
    assert by_key["src"]["VersionId"] == old
    versions, markers = all_versions(s3, bucket)
    assert [m["Key"] for m in markers] == ["dst"]
    assert sorted(v["Key"] for v in versions) == ["dst", "src"]


def test_healing_restores_every_version(tmp_path):
    server = start_server(tmp_path)
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="history")
        versioned(s3, "history")
        bodies = [os.urandom(2 << 20), b"tiny inline one", os.urandom(200_000)]
        ids = [s3.put_object(Bucket="history", Key="doc", Body=body)["VersionId"] for body in bodies]
        marker = s3.delete_object(Bucket="history", Key="doc")["VersionId"]
        wiped = server.drives[0]
        for entry in wiped.iterdir():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        env = dict(os.environ, TESSERA_ROOT_USER=ROOT_USER, TESSERA_ROOT_PASSWORD=ROOT_PASSWORD)
        result = subprocess.run([tessera_binary(), "admin", "heal", "--endpoint", server.endpoint],
                                env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 healed" in result.stdout, result.stdout
        again = subprocess.run([tessera_binary(), "admin", "heal", "--deep", "--endpoint", server.endpoint],
                               env=env, capture_output=True, text=True, timeout=300)
        assert "0 healed" in again.stdout, again.stdout
    finally:
        server.stop()
    # Two other drives lost: the healed one carries every version's share.
    for drive in server.drives[1:3]:
        shutil.rmtree(drive)
        drive.mkdir()
    server = start_server(tmp_path)
    try:
        s3 = server.client()
        for version_id, body in zip(ids, bodies):
            assert s3.get_object(Bucket="history", Key="doc", VersionId=version_id)["Body"].read() == body
        versions, markers = all_versions(s3, "history")
        assert [v["VersionId"] for v in versions] == list(reversed(ids))
        assert [m["VersionId"] for m in markers] == [marker]
    finally:
        server.stop()


def test_listing_resumes_when_the_marker_version_is_gone(s3, bucket):
    versioned(s3, bucket)
    ids = [s3.put_object(Bucket=bucket, Key="k", Body=str(n).encode())["VersionId"] for n in range(4)]
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=2)
    assert [v["VersionId"] for v in page["Versions"]] == [ids[3], ids[2]]
    # The marker version is deleted before the next page is asked for.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=page["NextVersionIdMarker"])
    rest = s3.list_object_versions(Bucket=bucket, KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
    assert [v["VersionId"] for v in rest["Versions"]] == [ids[1], ids[0]]
