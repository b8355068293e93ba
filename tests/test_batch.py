"""Batch jobs (issue 8): YAML specs submitted through `tessera admin batch`, run by the host's
scheduler over buckets, each object through a transform component (under fuel and memory
limits) or a built-in action, checkpointed on the drives."""

import json
import time
from pathlib import Path

import pytest

from conftest import start_server, tessera_admin

JOB_TIMEOUT_S = 120


admin = tessera_admin


def submit(server, tmp_path, spec):
    path = tmp_path / f"job-{time.monotonic_ns()}.yaml"
    path.write_text(spec)
    return admin(server, "batch", "submit", str(path)).stdout.strip()


def status(server, job):
    return json.loads(admin(server, "batch", "status", job).stdout)


def wait_for(server, job, predicate, timeout=JOB_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = status(server, job)
        if predicate(last):
            return last
        time.sleep(0.3)
    raise AssertionError(f"job {job} within {timeout}s; last status: {last}")


def done(server, job, **kwargs):
    return wait_for(server, job, lambda state: state["state"] in ("done", "failed", "cancelled"), **kwargs)


def body(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


@pytest.fixture
def node(tmp_path):
    (tmp_path / "node").mkdir()
    server = start_server(tmp_path / "node")
    yield server
    server.stop()
    assert "panicked" not in server.log(), server.log()


HTML = b"""<html><body><h1>Release notes</h1><p>Tessera is <strong>fast</strong>, see
<a href="https://example.com/docs">the docs</a>.</p><ul><li>one</li><li>two</li></ul></body></html>"""
CSV = b"name,drives\nalpha,4\nbeta,8\n"


def test_html_and_csv_become_markdown(node, tmp_path):
    s3 = node.client()
    s3.create_bucket(Bucket="raw")
    s3.create_bucket(Bucket="markdown")
    s3.put_object(Bucket="raw", Key="docs/notes.html", Body=HTML, ContentType="text/html")
    s3.put_object(Bucket="raw", Key="docs/table.csv", Body=CSV, ContentType="text/csv")
    s3.put_object(Bucket="raw", Key="other/skip.html", Body=HTML, ContentType="text/html")
    job = submit(node, tmp_path, """
name: docs-md
schedule: "@once"
source: {bucket: raw, prefix: docs/, modified-after: 2026-01-01T00:00:00Z}
transform: to-markdown
target: {bucket: markdown, prefix: docs/}
""")
    final = done(node, job)
    assert final["state"] == "done", final
    assert (final["objects_total"], final["objects_done"], final["errors"]) == (2, 2, 0), final
    assert final["bytes_done"] == len(HTML) + len(CSV)
    keys = sorted(entry["Key"] for entry in s3.list_objects_v2(Bucket="markdown").get("Contents", []))
    assert keys == ["docs/notes.md", "docs/table.md"]
    notes = body(s3, "markdown", "docs/notes.md")
    assert notes.startswith("# Release notes"), notes
    assert "**fast**" in notes and "[the docs](https://example.com/docs)" in notes and "*   one" in notes, notes
    table = body(s3, "markdown", "docs/table.md")
    assert "| name | drives |" in table and "| alpha | 4 |" in table, table
    listed = json.loads(admin(node, "batch", "list").stdout)["jobs"]
    assert [entry["id"] for entry in listed] == [job]


def test_a_guardrail_job_redacts_planted_pii_and_reports_it(node, tmp_path):
    s3 = node.client()
    s3.create_bucket(Bucket="inbox")
    s3.create_bucket(Bucket="clean")
    letter = "Dear team,\nplease refund jane.doe@example.com, card 4111 1111 1111 1111.\nThe meeting is on 2026-11-25.\n"
    s3.put_object(Bucket="inbox", Key="mail/1.txt", Body=letter.encode(), ContentType="text/plain")
    s3.put_object(Bucket="inbox", Key="mail/2.txt", Body=b"Nothing personal here.\n", ContentType="text/plain")
    job = submit(node, tmp_path, """
name: scrub
source: {bucket: inbox, prefix: mail/}
transform: guardrail
target: {bucket: clean, prefix: mail/}
""")
    final = done(node, job)
    assert final["state"] == "done" and final["errors"] == 0, final
    redacted = body(s3, "clean", "mail/1.txt")
    assert redacted == "Dear team,\nplease refund [REDACTED:email], card [REDACTED:card].\nThe meeting is on 2026-11-25.\n"
    assert body(s3, "clean", "mail/2.txt") == "Nothing personal here.\n"
    assert final["findings"] == ["mail/1.txt: email=1,card=1"], final

    quarantine = submit(node, tmp_path, """
name: hold
source: {bucket: inbox, prefix: mail/}
transform: guardrail
params: {mode: quarantine}
target: {bucket: clean, prefix: held/}
quarantine: {bucket: clean, prefix: quarantine/}
""")
    final = done(node, quarantine)
    assert len(final["quarantined"]) == 1 and final["quarantined"][0].startswith("mail/1.txt"), final
    assert body(s3, "clean", "quarantine/mail/1.txt") == letter


WORD_COUNT = Path(__file__).resolve().parent.parent / "target/wasm32-wasip2/release/word_count.wasm"


def test_a_plug_in_by_path_and_one_that_loops_forever(node, tmp_path):
    s3 = node.client()
    s3.create_bucket(Bucket="texts")
    s3.create_bucket(Bucket="stats")
    s3.put_object(Bucket="texts", Key="a.txt", Body=b"one two three\nfour\n")
    s3.put_object(Bucket="texts", Key="b.txt", Body=b"five\n")
    counted = submit(node, tmp_path, f"""
name: counts
source: {{bucket: texts}}
transform: {WORD_COUNT}
target: {{bucket: stats, prefix: counts/}}
""")
    final = done(node, counted)
    assert (final["state"], final["objects_done"], final["errors"]) == ("done", 2, 0), final
    assert json.loads(body(s3, "stats", "counts/a.txt.json")) == {"key": "a.txt", "lines": 2, "words": 4, "bytes": 19}

    # The same plug-in told to spin forever: stopped by its fuel, reported per object.
    started = time.monotonic()
    spinning = submit(node, tmp_path, f"""
name: runaway
source: {{bucket: texts}}
transform: {WORD_COUNT}
params: {{spin: forever}}
target: {{bucket: stats, prefix: never/}}
limits: {{fuel: 2000000000}}
""")
    final = done(node, spinning, timeout=60)
    assert final["state"] == "done" and (final["objects_done"], final["errors"]) == (2, 2), final
    assert all("ran out of fuel" in line for line in final["error_details"]), final
    assert time.monotonic() - started < 60
    assert "Contents" not in s3.list_objects_v2(Bucket="stats", Prefix="never/")
    # The node still serves.
    assert body(s3, "texts", "b.txt") == "five\n"


def test_a_starved_transform_is_stopped_and_the_job_goes_on(node, tmp_path):
    s3 = node.client()
    s3.create_bucket(Bucket="src-loop")
    s3.create_bucket(Bucket="dst-loop")
    s3.put_object(Bucket="src-loop", Key="a.html", Body=HTML * 200, ContentType="text/html")
    s3.put_object(Bucket="src-loop", Key="b.html", Body=HTML, ContentType="text/html")
    # Too little fuel for the big page, enough for the small one.
    job = submit(node, tmp_path, """
name: starved
source: {bucket: src-loop}
transform: to-markdown
target: {bucket: dst-loop}
limits: {fuel: 3000000}
""")
    final = done(node, job, timeout=60)
    assert final["state"] == "done", final
    assert final["objects_done"] == 2 and final["errors"] >= 1, final
    assert any(line.startswith("a.html: ") and "ran out of fuel" in line for line in final["error_details"]), final


def test_a_job_restarted_mid_run_processes_each_object_once(tmp_path):
    work = tmp_path / "node"
    work.mkdir()
    server = start_server(work)
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="many")
        s3.create_bucket(Bucket="many-md")
        for index in range(150):
            s3.put_object(Bucket="many", Key=f"p/{index:04}.html", Body=HTML, ContentType="text/html")
        job = submit(server, tmp_path, "name: bulk\nsource: {bucket: many}\ntransform: to-markdown\ntarget: {bucket: many-md}\n")
        wait_for(server, job, lambda state: state["objects_done"] >= 20)
        server.stop()
        server = start_server(work, port=server.port)
        mid = status(server, job)
        assert mid["state"] == "running" and 20 <= mid["objects_done"] < 150, mid
        final = done(server, job)
        assert final["state"] == "done" and (final["objects_total"], final["objects_done"], final["errors"]) == (150, 150, 0), final
        keys = [entry["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="many-md") for entry in page.get("Contents", [])]
        assert sorted(keys) == [f"p/{index:04}.md" for index in range(150)]
    finally:
        server.stop()


def test_a_cron_job_runs_again_on_schedule_and_takes_what_is_new(node, tmp_path):
    s3 = node.client()
    s3.create_bucket(Bucket="feed")
    s3.create_bucket(Bucket="feed-md")
    s3.put_object(Bucket="feed", Key="first.html", Body=HTML, ContentType="text/html")
    job = submit(node, tmp_path, """
name: every-3s
schedule: "*/3 * * * * *"
source: {bucket: feed}
transform: to-markdown
target: {bucket: feed-md}
""")
    first = wait_for(node, job, lambda state: state["runs"] >= 1)
    assert first["state"] == "queued" and first["next_run_ms"], first
    s3.put_object(Bucket="feed", Key="second.html", Body=HTML, ContentType="text/html")
    later = wait_for(node, job, lambda state: state["runs"] >= 3, timeout=60)
    keys = sorted(entry["Key"] for entry in s3.list_objects_v2(Bucket="feed-md")["Contents"])
    assert keys == ["first.md", "second.md"], later
    admin(node, "batch", "cancel", job)
    assert status(node, job)["state"] == "cancelled"


def test_actions_and_bad_specs(node, tmp_path):
    s3 = node.client()
    s3.create_bucket(Bucket="logs")
    for index in range(4):
        s3.put_object(Bucket="logs", Key=f"app/{index}.log", Body=b"x" * (index + 1) * 100)
    tagged = submit(node, tmp_path, "name: tag-big\nsource: {bucket: logs, min-size: 250}\naction: tag\ntags: {size: big}\n")
    assert done(node, tagged)["objects_done"] == 2
    tags = {tag["Key"]: tag["Value"] for tag in s3.get_object_tagging(Bucket="logs", Key="app/3.log")["TagSet"]}
    assert tags == {"size": "big"}
    assert s3.get_object_tagging(Bucket="logs", Key="app/0.log")["TagSet"] == []
    expired = submit(node, tmp_path, "name: drop-big\nsource: {bucket: logs, tags: {size: big}}\naction: expire\n")
    assert done(node, expired)["objects_done"] == 2
    assert sorted(entry["Key"] for entry in s3.list_objects_v2(Bucket="logs")["Contents"]) == ["app/0.log", "app/1.log"]

    bad = tmp_path / "bad.yaml"
    for spec, field in [
        ("name: x\nsource: {bukket: logs}\naction: expire\n", "bukket"),
        ("name: x\nsource: {bucket: logs, older-than: soon}\naction: expire\n", "source.older-than"),
        ("name: x\nschedule: every day\nsource: {bucket: logs}\naction: expire\n", "schedule"),
        ("name: x\nsource: {bucket: logs}\ntransform: to-markdown\n", "target"),
    ]:
        bad.write_text(spec)
        result = admin(node, "batch", "submit", str(bad), check=False)
        assert result.returncode != 0 and field in result.stderr, (spec, result.stderr)
