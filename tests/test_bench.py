"""`tessera bench` drives a real endpoint and reports figures (signing is checked by the
server's own SigV4 verification: a wrong signature would be an error in every operation)."""

import json
import subprocess

import pytest

from conftest import ROOT_PASSWORD, ROOT_USER, tessera_binary


@pytest.mark.parametrize("workload", ["put", "get", "mixed", "list", "overhead"])
def test_bench_workloads_report_figures(server, s3, workload, tmp_path):
    out = tmp_path / f"{workload}.json"
    bucket = f"bench-{workload}"
    result = subprocess.run(
        [
            tessera_binary(), "bench", "--endpoint", server.endpoint, "--access-key", ROOT_USER,
            "--secret-key", ROOT_PASSWORD, "--bucket", bucket, "--workload", workload, "--size", "4KiB-300KiB",
            "--concurrency", "4", "--operations", "60", "--warmup", "0s", "--objects", "8",
            "--target", "tessera", "--json", str(out),
        ],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["target"] == "tessera" and report["workload"] == workload
    assert report["operations"] == 60 and report["errors"] == 0, report
    assert report["ops_per_s"] > 0 and report["p50_ms"] > 0 and report["p99_ms"] >= report["p50_ms"]
    if workload in ("put", "get", "mixed"):
        assert report["mib_per_s"] > 0
    if workload == "overhead":
        assert set(report["by_operation"]) == {"STATIC", "NODE", "HEAD-BUCKET"}
    if workload == "mixed":
        assert set(report["by_operation"]) <= {"GET", "HEAD", "PUT", "DELETE"} and len(report["by_operation"]) >= 3
    assert "p99 ms" in result.stdout
    # The bench cleans up after itself.
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_bench_against_a_wrong_secret_counts_errors(server, tmp_path):
    result = subprocess.run(
        [tessera_binary(), "bench", "--endpoint", server.endpoint, "--access-key", ROOT_USER, "--secret-key", "wrong",
         "--workload", "put", "--operations", "5", "--warmup", "0s"],
        capture_output=True, text=True, timeout=120,
    )
    # Creating the bucket is refused: the bench stops with a clear message.
    assert result.returncode != 0 and "403" in result.stderr
