"""Real server processes for tests: the conformance server under daphne/uvicorn, and a private Redis.

Every process is started with ``subprocess.Popen`` on a free 127.0.0.1 port, waited for with a bounded
deadline, and stopped with SIGTERM (then SIGKILL) and ``wait()``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
APP = "tests.conformance.asgi:application"
START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(server: str, port: int, app: str = APP) -> list[str]:
    """The command line that serves ``app`` with ``server`` (``daphne`` or ``uvicorn``) on ``port``."""
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--websocket_timeout", "-1", app]
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--no-access-log", app]
    raise ValueError(f"unknown server {server!r}")


def stop(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> None:
    """Stop ``process`` (SIGKILL after 10 s) and reap it."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Server:
    """A running conformance server."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """What the server printed so far."""
        return self.log.read_text(errors="replace")


def wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = START_TIMEOUT) -> None:
    """Poll ``url`` until it answers 200; fail with the server's output if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s:\n{log.read_text(errors='replace')[-4000:]}")


@contextlib.contextmanager
def conformance_server(
    server: str = "daphne", *, env: dict[str, str] | None = None, app: str = APP
) -> Iterator[Server]:
    """Run the conformance server (``shared/conformance.md``), or another ASGI ``app`` built on it, as a real
    process."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="realtime-server-") as tmp:
        log = Path(tmp) / "server.log"
        full_env = {**os.environ, "CONFORMANCE_DB": str(Path(tmp) / "db.sqlite3"), **(env or {})}
        full_env.pop("DJANGO_SETTINGS_MODULE", None)
        with log.open("wb") as out:
            process = subprocess.Popen(
                server_command(server, port, app), cwd=REPO_ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_for_http(f"http://127.0.0.1:{port}/generateJwtToken", process, log)
            yield Server(f"http://127.0.0.1:{port}", process, log)
        finally:
            stop(process)


def start_redis(port: int) -> subprocess.Popen[bytes]:
    """Start a private ``redis-server`` on ``port`` (nothing on disk) and wait until it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return process
        if time.monotonic() > deadline or process.poll() is not None:
            stop(process)
            raise RuntimeError("redis-server did not start")
        time.sleep(0.1)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A private ``redis-server`` on a free port; yields its URL."""
    port = free_port()
    process = start_redis(port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",  # this machine's network is closed: no calls home
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str:
    """Debian's Chromium (``scripts/test`` installs it) or ``$CHROMIUM``; a missing one fails the test, not a
    skip, so a missing install step cannot pass as a green run."""
    import pytest

    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        pytest.fail(f"no Chromium at {path}: apt-get install chromium (bash scripts/test does), or set CHROMIUM")
    return path
