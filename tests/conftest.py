"""Fixtures for the end-to-end tests: a real `tessera serve` on a free loopback port over
temporary drive folders, and real clients (boto3, the aws CLI, raw HTTP) pointed at it."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT_USER = "tessera-test-admin"
ROOT_PASSWORD = "tessera-test-secret-0123456789"
STARTUP_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


def tessera_binary() -> str:
    binary = os.environ.get("TESSERA_BIN") or str(Path(__file__).resolve().parent.parent / "target/release/tessera")
    if not Path(binary).exists():
        pytest.exit(f"{binary} is missing: run the tests with `cargo xtask test`", returncode=2)
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running `tessera serve`."""

    endpoint: str
    port: int
    drives: list
    process: subprocess.Popen
    log_path: Path

    def client(self, access_key=ROOT_USER, secret_key=ROOT_PASSWORD, **config):
        config.setdefault("retries", {"max_attempts": 1})
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="us-east-1",
            config=Config(**config),
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def peak_rss_bytes(self) -> int:
        """VmHWM: the most resident memory the server has held so far."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc status")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)


def start_server(work_dir: Path, drive_count: int = 4, extra_args=(), port=None, extra_env=None) -> Server:
    """Starts `tessera serve` over drives in `work_dir` (on `port`, to restart a stopped one)."""
    drives = [work_dir / f"d{index}" for index in range(1, drive_count + 1)]
    port = port or free_port()
    env = dict(os.environ, TESSERA_ROOT_USER=ROOT_USER, TESSERA_ROOT_PASSWORD=ROOT_PASSWORD, RUST_LOG="info", **(extra_env or {}))
    args = [tessera_binary(), "serve", "--address", f"127.0.0.1:{port}", "--drives", *map(str, drives), *extra_args]
    return launch(args, port, drives, work_dir / "server.log", env)


def launch(args, port: int, drives, log_path: Path, env=None) -> Server:
    """Starts a server process and waits until it listens on `port` (bounded)."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = Server(f"http://127.0.0.1:{port}", port, drives, process, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{args[0]} exited early:\n{server.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"{args[0]} did not listen within {STARTUP_TIMEOUT_S}s:\n{server.log()}")


@pytest.fixture(scope="session")
def server():
    # A private parent: tests check that nothing appears beside the server's folder.
    base = Path(tempfile.mkdtemp(prefix="tessera-e2e-"))
    work_dir = base / "server"
    work_dir.mkdir()
    server = start_server(work_dir)
    yield server
    server.stop()
    assert server.process.returncode == 0, f"tessera did not stop cleanly:\n{server.log()}"
    assert "panicked" not in server.log(), server.log()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def s3(server):
    return server.client()


_bucket_counter = 0


@pytest.fixture
def bucket(s3):
    """A fresh bucket for one test."""
    global _bucket_counter
    _bucket_counter += 1
    name = f"test-{os.getpid()}-{_bucket_counter}"
    s3.create_bucket(Bucket=name)
    return name


def tessera_admin(server: Server, *args, check=True):
    """Runs `tessera admin ARGS` against the server with the root credentials."""
    env = dict(os.environ, TESSERA_ROOT_USER=ROOT_USER, TESSERA_ROOT_PASSWORD=ROOT_PASSWORD)
    result = subprocess.run(
        [tessera_binary(), "admin", *args, "--endpoint", server.endpoint], env=env, capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"tessera admin {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def aws_cli(server: Server, *args, check=True):
    """Runs the aws CLI against the server with the root credentials."""
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=ROOT_USER,
        AWS_SECRET_ACCESS_KEY=ROOT_PASSWORD,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
    )
    result = subprocess.run(
        ["aws", "--endpoint-url", server.endpoint, *args], env=env, capture_output=True, text=True, timeout=600
    )
    if check and result.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result
