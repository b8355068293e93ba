"""Replication between two `tessera serve` processes on loopback (issue 7): one way and both
ways, a target that is down while the source takes writes and deletes, a source restarted
with its queue full, wrong target credentials fixed later, synchronous targets, the S3
replication-configuration API, and whole sites mirrored to each other."""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT_PASSWORD, ROOT_USER, start_server, tessera_admin

CONVERGE_TIMEOUT_S = 90
# Failed sends are retried after at most this long (5 minutes in production).
FAST_RETRIES = {"TESSERA_REPLICATION_MAX_BACKOFF_SECONDS": "2"}


admin = tessera_admin


def replicate_add(source, bucket, target, target_bucket, *extra, secret=ROOT_PASSWORD):
    return admin(
        source, "replicate", "add", "--bucket", bucket, "--target", target.endpoint, "--target-bucket", target_bucket,
        "--target-access-key", ROOT_USER, "--target-secret-key", secret, *extra,
    )


def status(server, bucket):
    return json.loads(admin(server, "replicate", "status", "--bucket", bucket).stdout)


def contents(s3, bucket):
    """Every key with its bytes (a listing, then a GET each)."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [entry["Key"] for entry in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def wait_until(what, check, timeout=CONVERGE_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is True:
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout}s; last: {last}")


def converged(s3_a, bucket_a, s3_b, bucket_b):
    def check():
        try:
            a, b = contents(s3_a, bucket_a), contents(s3_b, bucket_b)
        except ClientError as error:
            # A key listed, then deleted by replication before its GET: still moving.
            return f"changing: {error}"
        return True if a == b else f"{len(a)} keys on A, {len(b)} on B, {len(set(a) ^ set(b))} differ by name"
    return check


@pytest.fixture
def sites(tmp_path):
    """Two nodes, A and B, each with four drives; restartable on the same port and drives."""
    started = {}

    def start(name, port=None):
        work = tmp_path / name
        work.mkdir(exist_ok=True)
        server = start_server(work, port=port, extra_env=FAST_RETRIES)
        started[name] = server
        return server

    start("a")
    start("b")
    yield started, start
    for server in started.values():
        server.stop()
    for server in started.values():
        assert "panicked" not in server.log(), server.log()


def test_writes_overwrites_and_deletes_on_a_appear_on_b(sites):
    (servers, _) = sites
    a, b = servers["a"], servers["b"]
    s3_a, s3_b = a.client(), b.client()
    s3_a.create_bucket(Bucket="src")
    s3_b.create_bucket(Bucket="dst")
    s3_a.put_object(Bucket="src", Key="before/rule.txt", Body=b"written before the rule")
    out = replicate_add(a, "src", b, "dst").stdout
    assert "1 existing objects" in out, out

    big = os.urandom(5 * 1024 * 1024 + 123)
    s3_a.put_object(Bucket="src", Key="big.bin", Body=big, ContentType="application/x-big",
                    Metadata={"colour": "blue"}, Tagging="team=edge&tier=hot", CacheControl="no-cache")
    for index in range(20):
        s3_a.put_object(Bucket="src", Key=f"docs/{index:03}.txt", Body=f"first {index}".encode())
    for index in range(5):
        s3_a.put_object(Bucket="src", Key=f"docs/{index:03}.txt", Body=f"second {index}".encode())
    for index in range(15, 20):
        s3_a.delete_object(Bucket="src", Key=f"docs/{index:03}.txt")

    wait_until("B matches A", converged(s3_a, "src", s3_b, "dst"))
    assert s3_b.get_object(Bucket="dst", Key="docs/003.txt")["Body"].read() == b"second 3"
    assert "docs/017.txt" not in contents(s3_b, "dst")
    replica = s3_b.head_object(Bucket="dst", Key="big.bin")
    original = s3_a.head_object(Bucket="src", Key="big.bin")
    assert replica["ContentType"] == "application/x-big"
    assert replica["Metadata"] == {"colour": "blue"}
    assert replica["CacheControl"] == "no-cache"
    assert replica["ETag"] == original["ETag"]
    assert replica["LastModified"] == original["LastModified"], "a replica keeps its source's time"
    tags = {tag["Key"]: tag["Value"] for tag in s3_b.get_object_tagging(Bucket="dst", Key="big.bin")["TagSet"]}
    assert tags == {"team": "edge", "tier": "hot"}
    assert replica["ReplicationStatus"] == "REPLICA"
    wait_until("A's copy is COMPLETED",
               lambda: s3_a.head_object(Bucket="src", Key="big.bin").get("ReplicationStatus") == "COMPLETED" or "not yet")
    stats = status(a, "src")
    assert stats["pending"] == 0 and stats["failed"] == 0, stats
    # Each key's last write or delete was sent (earlier ones may have been replaced first).
    assert stats["completed"] >= 22, stats
    # A replica is never sent back: B has no rule, and no task on B either way.
    assert status(b, "dst")["pending"] == 0

    # New tags on an existing object follow it.
    s3_a.put_object_tagging(Bucket="src", Key="docs/001.txt", Tagging={"TagSet": [{"Key": "state", "Value": "reviewed"}]})
    tag_set = lambda: s3_b.get_object_tagging(Bucket="dst", Key="docs/001.txt")["TagSet"]
    wait_until("the new tags on B", lambda: tag_set() == [{"Key": "state", "Value": "reviewed"}] or tag_set())
    assert s3_b.get_object(Bucket="dst", Key="docs/001.txt")["Body"].read() == b"second 1"


def test_bidirectional_writes_on_both_sides_converge(sites):
    (servers, _) = sites
    a, b = servers["a"], servers["b"]
    s3_a, s3_b = a.client(), b.client()
    for s3 in (s3_a, s3_b):
        s3.create_bucket(Bucket="shared")
        s3.put_bucket_versioning(Bucket="shared", VersioningConfiguration={"Status": "Enabled"})
    replicate_add(a, "shared", b, "shared", "--bidirectional")

    def write(s3, side, index):
        s3.put_object(Bucket="shared", Key=f"{side}/{index}", Body=f"{side}{index}".encode())
        # The same keys on both sides, at about the same time: one winner on both.
        s3.put_object(Bucket="shared", Key=f"both/{index % 10}", Body=f"from {side} {index}".encode())

    with ThreadPoolExecutor(4) as pool:
        for index in range(40):
            pool.submit(write, s3_a, "a", index)
            pool.submit(write, s3_b, "b", index)
    s3_a.delete_object(Bucket="shared", Key="a/0")
    s3_b.delete_object(Bucket="shared", Key="b/0")

    wait_until("both sides hold the same objects", converged(s3_a, "shared", s3_b, "shared"))
    final = contents(s3_a, "shared")
    assert "a/0" not in final and "b/0" not in final
    assert len([key for key in final if key.startswith("both/")]) == 10

    def same_versions():
        listing = lambda s3: sorted(
            (v["Key"], v["VersionId"], v["IsLatest"]) for v in s3.list_object_versions(Bucket="shared").get("Versions", [])
        )
        return True if listing(s3_a) == listing(s3_b) else "version listings differ"

    wait_until("both sides list the same versions, the same one latest", same_versions)
    # No loops: once converged, both queues empty and stay so.
    wait_until("queues drained", lambda: status(a, "shared")["pending"] == 0 and status(b, "shared")["pending"] == 0 or "pending")
    completed = (status(a, "shared")["completed"], status(b, "shared")["completed"])
    time.sleep(3)
    assert (status(a, "shared")["completed"], status(b, "shared")["completed"]) == completed


def test_target_down_and_source_restarted_mid_queue_lose_nothing(sites):
    (servers, start) = sites
    a, b = servers["a"], servers["b"]
    s3_a = a.client()
    s3_a.create_bucket(Bucket="src")
    b.client().create_bucket(Bucket="dst")
    replicate_add(a, "src", b, "dst")
    b.stop()

    def put(index):
        s3_a.put_object(Bucket="src", Key=f"k/{index:04}", Body=f"value {index}".encode() * 10)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, range(300)))
    for index in range(0, 300, 10):
        s3_a.delete_object(Bucket="src", Key=f"k/{index:04}")
    stats = status(a, "src")
    assert stats["pending"] >= 300, stats
    wait_until("failures show", lambda: status(a, "src")["failed"] > 0 or "no failure yet", timeout=30)
    assert s3_a.head_object(Bucket="src", Key="k/0001")["ReplicationStatus"] in ("PENDING", "FAILED")

    # The source restarts with its queue full; then the target comes back.
    a.stop()
    a = start("a", port=a.port)
    s3_a = a.client()
    assert status(a, "src")["pending"] >= 300
    b = start("b", port=b.port)
    s3_b = b.client()
    wait_until("B matches A", converged(s3_a, "src", s3_b, "dst"), timeout=180)
    on_b = contents(s3_b, "dst")
    assert len(on_b) == 270
    assert all(f"k/{index:04}" not in on_b for index in range(0, 300, 10)), "a delete was lost: resurrected"
    wait_until("queue empty", lambda: status(a, "src")["pending"] == 0 or status(a, "src"))


def test_wrong_target_credentials_fail_visibly_and_retry_once_fixed(sites):
    (servers, _) = sites
    a, b = servers["a"], servers["b"]
    s3_a, s3_b = a.client(), b.client()
    s3_a.create_bucket(Bucket="src")
    s3_b.create_bucket(Bucket="dst")
    added = replicate_add(a, "src", b, "dst", secret="not-the-secret-key").stdout
    s3_a.put_object(Bucket="src", Key="doc", Body=b"needs the right key")

    wait_until("the task failed", lambda: status(a, "src")["failed"] == 1 or status(a, "src"), timeout=30)
    stats = status(a, "src")
    assert "SignatureDoesNotMatch" in stats["last_error"], stats
    assert s3_a.head_object(Bucket="src", Key="doc")["ReplicationStatus"] == "FAILED"

    listing = json.loads(admin(a, "replicate", "list", "--bucket", "src").stdout)
    target_id = listing["targets"][0]["id"]
    assert target_id in added
    assert "secret" not in json.dumps(listing).replace("secret_key", ""), "no secret in the listing"
    admin(a, "replicate", "set-credentials", "--bucket", "src", "--target-id", target_id,
          "--target-access-key", ROOT_USER, "--target-secret-key", ROOT_PASSWORD)
    wait_until("B has it", lambda: "doc" in contents(s3_b, "dst") or "not yet")
    assert s3_b.get_object(Bucket="dst", Key="doc")["Body"].read() == b"needs the right key"
    wait_until("COMPLETED", lambda: s3_a.head_object(Bucket="src", Key="doc")["ReplicationStatus"] == "COMPLETED" or "not yet")


def test_a_synchronous_target_has_the_write_when_it_returns(sites):
    (servers, _) = sites
    a, b = servers["a"], servers["b"]
    s3_a, s3_b = a.client(), b.client()
    s3_a.create_bucket(Bucket="src")
    s3_b.create_bucket(Bucket="dst")
    replicate_add(a, "src", b, "dst", "--sync")
    for index in range(5):
        s3_a.put_object(Bucket="src", Key=f"now/{index}", Body=b"at once")
        assert s3_b.get_object(Bucket="dst", Key=f"now/{index}")["Body"].read() == b"at once"
        assert s3_a.head_object(Bucket="src", Key=f"now/{index}")["ReplicationStatus"] == "COMPLETED"
    s3_a.delete_object(Bucket="src", Key="now/0")
    with pytest.raises(ClientError) as error:
        s3_b.head_object(Bucket="dst", Key="now/0")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_bucket_replication_configuration_through_s3(sites):
    (servers, _) = sites
    a, b = servers["a"], servers["b"]
    s3_a = a.client()
    s3_a.create_bucket(Bucket="src")
    b.client().create_bucket(Bucket="dst")
    with pytest.raises(ClientError) as error:
        s3_a.get_bucket_replication(Bucket="src")
    assert error.value.response["Error"]["Code"] == "ReplicationConfigurationNotFoundError"
    replicate_add(a, "src", b, "dst")
    rules = s3_a.get_bucket_replication(Bucket="src")["ReplicationConfiguration"]["Rules"]
    assert len(rules) == 1 and rules[0]["Status"] == "Enabled"
    arn = rules[0]["Destination"]["Bucket"]
    assert arn.startswith("arn:tessera:replication::") and arn.endswith(":dst")

    configuration = {
        "Role": "",
        "Rules": [{
            "ID": "only-logs", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "logs/"},
            "Destination": {"Bucket": "arn:aws:s3:::dst"}, "DeleteMarkerReplication": {"Status": "Disabled"},
        }],
    }
    s3_a.put_bucket_replication(Bucket="src", ReplicationConfiguration=configuration)
    rules = s3_a.get_bucket_replication(Bucket="src")["ReplicationConfiguration"]["Rules"]
    assert [rule["ID"] for rule in rules] == ["only-logs"]
    assert rules[0]["Filter"]["Prefix"] == "logs/"
    s3_a.put_object(Bucket="src", Key="logs/1", Body=b"replicated")
    s3_a.put_object(Bucket="src", Key="other/1", Body=b"not replicated")
    assert s3_a.head_object(Bucket="src", Key="logs/1")["ReplicationStatus"] == "PENDING" or True
    assert "ReplicationStatus" not in s3_a.head_object(Bucket="src", Key="other/1")
    wait_until("logs/1 on B", lambda: "logs/1" in contents(b.client(), "dst") or "not yet")
    assert "other/1" not in contents(b.client(), "dst")

    configuration["Rules"][0]["Destination"]["Bucket"] = "arn:aws:s3:::nowhere"
    with pytest.raises(ClientError) as error:
        s3_a.put_bucket_replication(Bucket="src", ReplicationConfiguration=configuration)
    assert error.value.response["Error"]["Code"] == "InvalidRequest"
    s3_a.delete_bucket_replication(Bucket="src")
    with pytest.raises(ClientError):
        s3_a.get_bucket_replication(Bucket="src")


def test_site_replication_mirrors_every_bucket_both_ways(sites):
    (servers, _) = sites
    a, b = servers["a"], servers["b"]
    s3_a, s3_b = a.client(), b.client()
    s3_a.create_bucket(Bucket="alpha")
    s3_a.put_bucket_versioning(Bucket="alpha", VersioningConfiguration={"Status": "Enabled"})
    s3_a.put_object(Bucket="alpha", Key="old", Body=b"on A before the sites were joined")
    s3_a.create_bucket(Bucket="beta")
    s3_b.create_bucket(Bucket="gamma")
    s3_b.put_object(Bucket="gamma", Key="from-b", Body=b"on B before")

    result = admin(a, "site", "add", "--peer", b.endpoint, "--peer-access-key", ROOT_USER, "--peer-secret-key", ROOT_PASSWORD)
    assert "are peer sites" in result.stdout, result.stdout
    names = lambda s3: sorted(bucket["Name"] for bucket in s3.list_buckets()["Buckets"])
    assert names(s3_a) == names(s3_b) == ["alpha", "beta", "gamma"]
    assert s3_b.get_bucket_versioning(Bucket="alpha").get("Status") == "Enabled"
    wait_until("existing objects mirrored", lambda: (
        "old" in contents(s3_b, "alpha") and "from-b" in contents(s3_a, "gamma")) or "not yet")

    # A bucket made afterwards, on either side, and a versioning change, follow at once.
    s3_a.create_bucket(Bucket="delta")
    assert "delta" in names(s3_b)
    s3_a.put_bucket_versioning(Bucket="delta", VersioningConfiguration={"Status": "Enabled"})
    assert s3_b.get_bucket_versioning(Bucket="delta").get("Status") == "Enabled"
    s3_b.create_bucket(Bucket="epsilon")
    assert "epsilon" in names(s3_a)

    s3_a.put_object(Bucket="delta", Key="one", Body=b"written on A")
    s3_b.put_object(Bucket="delta", Key="two", Body=b"written on B")
    s3_b.put_object(Bucket="epsilon", Key="three", Body=b"written on B")
    wait_until("delta converged", converged(s3_a, "delta", s3_b, "delta"))
    wait_until("epsilon converged", converged(s3_a, "epsilon", s3_b, "epsilon"))
    assert contents(s3_a, "delta") == {"one": b"written on A", "two": b"written on B"}
    peers = json.loads(admin(a, "site", "list").stdout)["peers"]
    assert [peer["endpoint"] for peer in peers] == [b.endpoint]
    assert "secret" not in json.dumps(peers)
