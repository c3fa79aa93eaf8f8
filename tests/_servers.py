"""Real processes for the tests: an MLflow tracking server on loopback (and helpers to start and
stop any server and wait for it)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            log = getattr(proc, "log_path", None)
            text = Path(log).read_text(errors="replace")[-4000:] if log else ""
            raise RuntimeError(f"process exited with {proc.returncode}: {text}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


def start_process(cmd: list[str], url: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a server and wait until ``url`` answers. Its output goes to a log file, never to a
    pipe nobody reads (a full pipe blocks the server's logging, and then the server)."""
    fd, log_path = tempfile.mkstemp(prefix="leadml-test-server-", suffix=".log")
    with os.fdopen(fd, "w") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group: killed as a whole
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        wait_for(url, proc)
    except BaseException:
        stop_process(proc)
        raise
    return proc


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log = getattr(proc, "log_path", None)
    if log:
        Path(log).unlink(missing_ok=True)


@contextlib.contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    """A real ``mlflow server`` on a free loopback port (SQLite store and local artifacts in
    ``folder``); yields its URL and stops it (the whole process group) afterwards."""
    port = free_port()
    proc = start_process(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--default-artifact-root",
            str(folder / "artifacts"),
            "--no-serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        f"http://127.0.0.1:{port}/health",
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
