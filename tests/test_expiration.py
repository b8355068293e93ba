"""Lifecycle rules (Put/Get/DeleteBucketLifecycleConfiguration), applied by the maintenance
pass (`tessera admin heal`). A lifecycle "day" is shortened to one second for these tests
(`TESSERA_LIFECYCLE_DAY_SECONDS`), so rules of 1 day act within seconds."""

import datetime
import os
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT_PASSWORD, ROOT_USER, start_server, tessera_binary


@pytest.fixture(scope="module")
def fast_days(tmp_path_factory):
    os.environ["TESSERA_LIFECYCLE_DAY_SECONDS"] = "1"
    try:
        server = start_server(tmp_path_factory.mktemp("expiration"))
    finally:
        del os.environ["TESSERA_LIFECYCLE_DAY_SECONDS"]
    yield server
    server.stop()


def maintenance_pass(server, bucket) -> str:
    env = dict(os.environ, TESSERA_ROOT_USER=ROOT_USER, TESSERA_ROOT_PASSWORD=ROOT_PASSWORD)
    result = subprocess.run([tessera_binary(), "admin", "heal", "--bucket", bucket, "--endpoint", server.endpoint],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def keys(s3, bucket):
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def rule(rule_id, prefix="", **actions):
    return {"ID": rule_id, "Status": "Enabled", "Filter": {"Prefix": prefix}, **actions}


def test_rules_round_trip_and_bad_ones_are_refused(fast_days):
    s3 = fast_days.client()
    s3.create_bucket(Bucket="rules")
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_lifecycle_configuration(Bucket="rules")
    assert missing.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
    rules = [
        rule("logs", "logs/", Expiration={"Days": 30}),
        {"ID": "tagged", "Status": "Disabled",
         "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "kind", "Value": "scratch"}]}},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2}},
        rule("uploads", AbortIncompleteMultipartUpload={"DaysAfterInitiation": 3},
             Expiration={"Date": datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)}),
    ]
    s3.put_bucket_lifecycle_configuration(Bucket="rules", LifecycleConfiguration={"Rules": rules})
    stored = s3.get_bucket_lifecycle_configuration(Bucket="rules")["Rules"]
    assert [r["ID"] for r in stored] == ["logs", "tagged", "uploads"]
    assert stored[0]["Expiration"] == {"Days": 30} and stored[0]["Filter"] == {"Prefix": "logs/"}
    assert stored[1]["Status"] == "Disabled" and stored[1]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2}
    assert stored[1]["Filter"]["And"]["Tags"] == [{"Key": "kind", "Value": "scratch"}]
    assert stored[2]["Expiration"]["Date"].year == 2030 and stored[2]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}
    bad = [
        [rule("nothing")],
        [rule("negative", Expiration={"Days": -1})],
        [rule("same", Expiration={"Days": 1}), rule("same", Expiration={"Days": 2})],
        [rule("noon", Expiration={"Date": datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.timezone.utc)})],
    ]
    for rules in bad:
        with pytest.raises(ClientError) as refused:
            s3.put_bucket_lifecycle_configuration(Bucket="rules", LifecycleConfiguration={"Rules": rules})
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, rules
    s3.delete_bucket_lifecycle(Bucket="rules")
    with pytest.raises(ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket="rules")


def test_current_versions_expire_by_days_prefix_and_tags(fast_days):
    s3 = fast_days.client()
    s3.create_bucket(Bucket="expiring")
    s3.put_object(Bucket="expiring", Key="logs/old.txt", Body=b"old log")
    s3.put_object(Bucket="expiring", Key="logs/tagged.txt", Body=b"x", Tagging="keep=yes")
    s3.put_object(Bucket="expiring", Key="data/keep.txt", Body=b"data")
    rules = [{"ID": "logs", "Status": "Enabled",
              "Filter": {"And": {"Prefix": "logs/", "Tags": [{"Key": "keep", "Value": "no"}]}}, "Expiration": {"Days": 1}},
             rule("plain-logs", "logs/old", Expiration={"Days": 1})]
    s3.put_bucket_lifecycle_configuration(Bucket="expiring", LifecycleConfiguration={"Rules": rules})
    # Too young: a "day" (1 s here) has not passed since the writes... unless the machine is slow.
    time.sleep(2.2)
    report = maintenance_pass(fast_days, "expiring")
    assert "1 expired" in report, report
    assert keys(s3, "expiring") == ["data/keep.txt", "logs/tagged.txt"]


def test_a_past_date_expires_at_once(fast_days):
    s3 = fast_days.client()
    s3.create_bucket(Bucket="dated")
    s3.put_object(Bucket="dated", Key="a", Body=b"a")
    s3.put_object(Bucket="dated", Key="b", Body=b"b")
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    s3.put_bucket_lifecycle_configuration(Bucket="dated", LifecycleConfiguration={"Rules": [rule("past", "a", Expiration={"Date": past})]})
    maintenance_pass(fast_days, "dated")
    assert keys(s3, "dated") == ["b"]


def test_versioned_buckets_get_markers_then_lose_noncurrent_versions(fast_days):
    s3 = fast_days.client()
    s3.create_bucket(Bucket="history")
    s3.put_bucket_versioning(Bucket="history", VersioningConfiguration={"Status": "Enabled"})
    ids = [s3.put_object(Bucket="history", Key="doc", Body=f"v{n}".encode())["VersionId"] for n in range(4)]
    rules = [rule("trim", NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 1})]
    s3.put_bucket_lifecycle_configuration(Bucket="history", LifecycleConfiguration={"Rules": rules})
    time.sleep(2.2)
    report = maintenance_pass(fast_days, "history")
    assert "2 expired" in report, report
    versions = s3.list_object_versions(Bucket="history")["Versions"]
    # The current version and the newest noncurrent one stay.
    assert [v["VersionId"] for v in versions] == [ids[3], ids[2]]
    # Expiring the current version leaves a delete marker; a lone marker goes next.
    s3.put_bucket_lifecycle_configuration(Bucket="history", LifecycleConfiguration={"Rules": [
        rule("expire", Expiration={"Days": 1}),
        rule("noncurrent", NoncurrentVersionExpiration={"NoncurrentDays": 1}),
    ]})
    maintenance_pass(fast_days, "history")
    assert keys(s3, "history") == []
    answer = s3.list_object_versions(Bucket="history")
    assert len(answer["DeleteMarkers"]) == 1
    time.sleep(2.2)
    maintenance_pass(fast_days, "history")
    s3.put_bucket_lifecycle_configuration(Bucket="history", LifecycleConfiguration={"Rules": [
        {"ID": "markers", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"ExpiredObjectDeleteMarker": True}},
    ]})
    maintenance_pass(fast_days, "history")
    answer = s3.list_object_versions(Bucket="history")
    assert answer.get("Versions", []) == [] and answer.get("DeleteMarkers", []) == []


def test_incomplete_uploads_are_aborted(fast_days):
    s3 = fast_days.client()
    s3.create_bucket(Bucket="uploads")
    stale = s3.create_multipart_upload(Bucket="uploads", Key="tmp/big")["UploadId"]
    kept = s3.create_multipart_upload(Bucket="uploads", Key="keep/big")["UploadId"]
    s3.upload_part(Bucket="uploads", Key="tmp/big", UploadId=stale, PartNumber=1, Body=b"x" * 1000)
    s3.put_bucket_lifecycle_configuration(Bucket="uploads", LifecycleConfiguration={"Rules": [
        rule("abort", "tmp/", AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1})]})
    time.sleep(2.2)
    maintenance_pass(fast_days, "uploads")
    remaining = [upload["UploadId"] for upload in s3.list_multipart_uploads(Bucket="uploads").get("Uploads", [])]
    assert remaining == [kept]
