"""Identity and access: users and policies made with `tessera admin`, bucket policies through
S3, every request decided in one place — driven with boto3 as the users themselves."""

import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ROOT_PASSWORD, ROOT_USER, tessera_binary


def admin(server, *args, check=True, access_key=ROOT_USER, secret_key=ROOT_PASSWORD):
    env = dict(os.environ, TESSERA_ROOT_USER=access_key, TESSERA_ROOT_PASSWORD=secret_key)
    result = subprocess.run(
        [tessera_binary(), "admin", *args, "--endpoint", server.endpoint], env=env, capture_output=True, text=True, timeout=60
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def error_code(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def new_user(server, name: str, *policies: str):
    secret = f"{name}-secret-key-123"
    admin(server, "user", "add", name, secret)
    for policy in policies:
        admin(server, "policy", "attach", policy, "--user", name)
    return server.client(access_key=name, secret_key=secret)


def policy_file(tmp_path: Path, statements) -> str:
    path = tmp_path / f"policy-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return str(path)


@pytest.fixture
def data(s3, bucket):
    s3.put_object(Bucket=bucket, Key="report.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=bucket, Key="home/ann/notes.txt", Body=b"ann's notes")
    s3.put_object(Bucket=bucket, Key="home/bob/notes.txt", Body=b"bob's notes")
    return bucket


def test_a_user_without_policy_may_do_nothing(server, data):
    user = new_user(server, "nobody")
    assert error_code(lambda: user.list_buckets()) == "AccessDenied"
    assert error_code(lambda: user.get_object(Bucket=data, Key="report.csv")) == "AccessDenied"
    assert error_code(lambda: user.put_object(Bucket=data, Key="x", Body=b"x")) == "AccessDenied"
    assert error_code(lambda: user.list_objects_v2(Bucket=data)) == "AccessDenied"
    assert "tessera audit: access denied: who=nobody action=s3:PutObject" in server.log()


def test_readonly_reads_and_lists_but_never_writes(server, data):
    user = new_user(server, "reader", "readonly")
    assert data in [entry["Name"] for entry in user.list_buckets()["Buckets"]]
    assert user.get_object(Bucket=data, Key="report.csv")["Body"].read() == b"a,b\n1,2\n"
    assert user.head_object(Bucket=data, Key="report.csv")["ContentLength"] == 8
    assert len(user.list_objects_v2(Bucket=data)["Contents"]) == 3
    assert error_code(lambda: user.put_object(Bucket=data, Key="x", Body=b"x")) == "AccessDenied"
    assert error_code(lambda: user.delete_object(Bucket=data, Key="report.csv")) == "AccessDenied"
    assert error_code(lambda: user.create_multipart_upload(Bucket=data, Key="big")) == "AccessDenied"
    # A presigned URL carries its signer's rights, no more.
    url = user.generate_presigned_url("get_object", Params={"Bucket": data, "Key": "report.csv"}, ExpiresIn=300)
    assert requests.get(url, timeout=30).status_code == 200
    url = user.generate_presigned_url("put_object", Params={"Bucket": data, "Key": "sneaky"}, ExpiresIn=300)
    assert requests.put(url, data=b"x", timeout=30).status_code == 403


def test_a_prefix_policy_allows_only_its_prefix(server, data, tmp_path):
    document = policy_file(tmp_path, [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": [f"arn:aws:s3:::{data}/home/ann/*"]},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{data}",
         "Condition": {"StringLike": {"s3:prefix": ["home/ann/*"]}}},
    ])
    admin(server, "policy", "create", "ann-home", document)
    user = new_user(server, "ann", "ann-home")
    user.put_object(Bucket=data, Key="home/ann/todo.txt", Body=b"todo")
    assert user.get_object(Bucket=data, Key="home/ann/notes.txt")["Body"].read() == b"ann's notes"
    listed = user.list_objects_v2(Bucket=data, Prefix="home/ann/")
    assert [item["Key"] for item in listed["Contents"]] == ["home/ann/notes.txt", "home/ann/todo.txt"]
    assert error_code(lambda: user.get_object(Bucket=data, Key="home/bob/notes.txt")) == "AccessDenied"
    assert error_code(lambda: user.put_object(Bucket=data, Key="report.csv", Body=b"x")) == "AccessDenied"
    assert error_code(lambda: user.list_objects_v2(Bucket=data, Prefix="home/bob/")) == "AccessDenied"
    assert error_code(lambda: user.list_objects_v2(Bucket=data)) == "AccessDenied"
    # Multipart parts are writes under the same rule.
    upload = user.create_multipart_upload(Bucket=data, Key="home/ann/big")["UploadId"]
    etag = user.upload_part(Bucket=data, Key="home/ann/big", UploadId=upload, PartNumber=1, Body=b"p" * 100)["ETag"]
    user.complete_multipart_upload(Bucket=data, Key="home/ann/big", UploadId=upload,
                                   MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    # DeleteObjects answers key by key.
    answer = user.delete_objects(Bucket=data, Delete={"Objects": [{"Key": "home/ann/todo.txt"}, {"Key": "report.csv"}]})
    assert [item["Key"] for item in answer.get("Deleted", [])] == ["home/ann/todo.txt"]
    assert [(item["Key"], item["Code"]) for item in answer["Errors"]] == [("report.csv", "AccessDenied")]
    assert server.client().head_object(Bucket=data, Key="report.csv")["ContentLength"] == 8


def test_copying_needs_read_on_the_source(server, s3, data, tmp_path):
    target = data + "-copies"
    s3.create_bucket(Bucket=target)
    document = policy_file(tmp_path, [{"Effect": "Allow", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{target}/*"]}])
    admin(server, "policy", "create", "copies-only", document)
    user = new_user(server, "copier", "copies-only")
    source = {"Bucket": data, "Key": "report.csv"}
    assert error_code(lambda: user.copy_object(Bucket=target, Key="stolen.csv", CopySource=source)) == "AccessDenied"
    user.put_object(Bucket=target, Key="mine", Body=b"mine")
    user.copy_object(Bucket=target, Key="mine-too", CopySource={"Bucket": target, "Key": "mine"})
    assert user.get_object(Bucket=target, Key="mine-too")["Body"].read() == b"mine"


def test_bucket_policy_public_read(server, s3, data):
    anonymous = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                             config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    assert error_code(lambda: anonymous.get_object(Bucket=data, Key="report.csv")) == "AccessDenied"
    assert error_code(lambda: s3.get_bucket_policy(Bucket=data)) == "NoSuchBucketPolicy"
    public = {"Version": "2012-10-17", "Statement": [
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{data}/*"]}]}
    s3.put_bucket_policy(Bucket=data, Policy=json.dumps(public))
    assert json.loads(s3.get_bucket_policy(Bucket=data)["Policy"]) == public
    assert anonymous.get_object(Bucket=data, Key="report.csv")["Body"].read() == b"a,b\n1,2\n"
    assert requests.get(f"{server.endpoint}/{data}/report.csv", timeout=30).content == b"a,b\n1,2\n"
    assert error_code(lambda: anonymous.put_object(Bucket=data, Key="graffiti", Body=b"x")) == "AccessDenied"
    assert error_code(lambda: anonymous.list_objects_v2(Bucket=data)) == "AccessDenied"
    s3.delete_bucket_policy(Bucket=data)
    assert error_code(lambda: anonymous.get_object(Bucket=data, Key="report.csv")) == "AccessDenied"


def test_malformed_bucket_policies_name_the_problem(s3, bucket):
    wrong_bucket = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::elsewhere/*"}]}
    with pytest.raises(ClientError) as raised:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(wrong_bucket))
    assert raised.value.response["Error"]["Code"] == "MalformedPolicy"
    assert "arn:aws:s3:::elsewhere/*" in raised.value.response["Error"]["Message"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error_code(lambda: s3.put_bucket_policy(Bucket=bucket, Policy="{not json")) == "MalformedPolicy"


def test_explicit_deny_wins_over_allow(server, s3, data):
    user = new_user(server, "denied-bob", "readwrite")
    deny = {"Version": "2012-10-17", "Statement": [
        {"Sid": "NotBobsHome", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam:::user/denied-bob"},
         "Action": "s3:*", "Resource": f"arn:aws:s3:::{data}/home/*"}]}
    s3.put_bucket_policy(Bucket=data, Policy=json.dumps(deny))
    assert user.get_object(Bucket=data, Key="report.csv")["Body"].read() == b"a,b\n1,2\n"
    assert error_code(lambda: user.get_object(Bucket=data, Key="home/ann/notes.txt")) == "AccessDenied"
    assert "who=denied-bob action=s3:GetObject" in server.log() and "NotBobsHome" in server.log()


def test_disabled_users_and_wrong_secrets(server, data):
    user = new_user(server, "carol", "readonly")
    assert user.head_object(Bucket=data, Key="report.csv")["ContentLength"] == 8
    admin(server, "user", "disable", "carol")
    assert error_code(lambda: user.list_objects_v2(Bucket=data)) == "InvalidAccessKeyId"
    listed = admin(server, "user", "list").stdout
    assert any(line.split()[:3] == ["carol", "disabled", "readonly"] for line in listed.splitlines()), listed
    admin(server, "user", "enable", "carol")
    assert len(user.list_objects_v2(Bucket=data)["Contents"]) == 3
    impostor = server.client(access_key="carol", secret_key="not-carols-secret")
    assert error_code(lambda: impostor.list_objects_v2(Bucket=data)) == "SignatureDoesNotMatch"
    admin(server, "user", "remove", "carol")
    assert error_code(lambda: user.list_objects_v2(Bucket=data)) == "InvalidAccessKeyId"


def test_secrets_are_encrypted_at_rest(server):
    secret = "a-very-recognisable-secret-4711"
    admin(server, "user", "add", "dave", secret)
    for drive in server.drives:
        for path in drive.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def test_the_admin_api_needs_admin_actions(server, tmp_path):
    secret = "operator-secret-123"
    admin(server, "user", "add", "operator", secret)
    refused = admin(server, "info", check=False, access_key="operator", secret_key=secret)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr
    refused = admin(server, "user", "list", check=False, access_key="operator", secret_key=secret)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr
    heal_only = policy_file(tmp_path, [{"Effect": "Allow", "Action": ["admin:Heal", "admin:ServerInfo"], "Resource": "arn:aws:s3:::*"}])
    admin(server, "policy", "create", "heal-only", heal_only)
    admin(server, "policy", "attach", "heal-only", "--user", "operator")
    assert "write quorum" in admin(server, "info", access_key="operator", secret_key=secret).stdout
    refused = admin(server, "user", "add", "intruder", "intruder-secret", check=False, access_key="operator", secret_key=secret)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr
    admin(server, "policy", "attach", "consoleAdmin", "--user", "operator")
    admin(server, "user", "add", "intruder", "intruder-secret", access_key="operator", secret_key=secret)
    removed = admin(server, "policy", "remove", "heal-only")
    assert "detached from operator" in removed.stdout
    listed = admin(server, "policy", "list").stdout.splitlines()
    assert "readonly (canned)" in listed and "heal-only" not in listed


def test_source_address_conditions(server, data, tmp_path):
    elsewhere = policy_file(tmp_path, [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{data}/*",
                                        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}])
    admin(server, "policy", "create", "from-ten", elsewhere)
    user = new_user(server, "remote", "from-ten")
    assert error_code(lambda: user.get_object(Bucket=data, Key="report.csv")) == "AccessDenied"
    here = policy_file(tmp_path, [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{data}/*",
                                   "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}])
    admin(server, "policy", "create", "from-loopback", here)
    admin(server, "policy", "attach", "from-loopback", "--user", "remote")
    assert user.get_object(Bucket=data, Key="report.csv")["Body"].read() == b"a,b\n1,2\n"
    # A forged address header changes nothing: the host replaces it.
    forged = requests.get(f"{server.endpoint}/_tessera/health/cluster", headers={"x-tessera-source-ip": "10.1.1.1"}, timeout=30)
    assert forged.status_code == 200


def test_bad_policies_and_names_are_refused(server, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}))
    refused = admin(server, "policy", "create", "bad", str(bad), check=False)
    assert refused.returncode != 0 and "MalformedPolicy" in refused.stderr and "ec2:*" in refused.stderr
    refused = admin(server, "policy", "create", "readonly", str(bad), check=False)
    assert refused.returncode != 0 and "canned" in refused.stderr
    refused = admin(server, "user", "add", "x", "short", check=False)
    assert refused.returncode != 0 and "access key" in refused.stderr
    refused = admin(server, "policy", "attach", "no-such-policy", "--user", "nobody", check=False)
    assert refused.returncode != 0 and "404" in refused.stderr


def test_star_on_a_bucket_grants_no_admin_rights(server, s3, bucket, tmp_path):
    """`"Action": "*"` scoped to a bucket is the usual team policy: it must not reach the admin
    API (else the user could attach consoleAdmin to itself)."""
    team = policy_file(tmp_path, [{"Effect": "Allow", "Action": "*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}])
    admin(server, "policy", "create", "team-star", team)
    secret = "team-member-secret"
    admin(server, "user", "add", "team-member", secret)
    admin(server, "policy", "attach", "team-star", "--user", "team-member")
    user = server.client(access_key="team-member", secret_key=secret)
    user.put_object(Bucket=bucket, Key="mine", Body=b"ok")
    escalate = admin(server, "policy", "attach", "consoleAdmin", "--user", "team-member", check=False,
                     access_key="team-member", secret_key=secret)
    assert escalate.returncode != 0 and "AccessDenied" in escalate.stderr
    assert "consoleAdmin" not in admin(server, "user", "list").stdout.split("team-member", 1)[1].splitlines()[0]


def test_deleting_a_version_needs_delete_object_version(server, s3, bucket, tmp_path):
    """The usual guard against ransomware: DeleteObject allowed (a delete marker, reversible),
    DeleteObjectVersion denied (permanent)."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=bucket, Key="precious", Body=b"data")["VersionId"]
    guard = policy_file(tmp_path, [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Deny", "Action": ["s3:DeleteObjectVersion"], "Resource": f"arn:aws:s3:::{bucket}/*"},
    ])
    admin(server, "policy", "create", "no-purge", guard)
    user = new_user(server, "careful", "no-purge")
    assert error_code(lambda: user.delete_object(Bucket=bucket, Key="precious", VersionId=version)) == "AccessDenied"
    answer = user.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "precious", "VersionId": version}]})
    assert [(item["Key"], item["Code"]) for item in answer["Errors"]] == [("precious", "AccessDenied")]
    assert user.delete_object(Bucket=bucket, Key="precious")["DeleteMarker"] is True
    # Reading an old version is GetObjectVersion, which this policy does not allow either.
    assert error_code(lambda: user.get_object(Bucket=bucket, Key="precious", VersionId=version)) == "AccessDenied"
    assert s3.get_object(Bucket=bucket, Key="precious", VersionId=version)["Body"].read() == b"data"
