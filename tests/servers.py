"""Real server processes for tests: the conformance server under daphne/uvicorn, and a private Redis.

Every process is started with ``subprocess.Popen`` on a free 127.0.0.1 port, waited for with a bounded
deadline, and stopped with SIGTERM (then SIGKILL) and ``wait()``. The conformance server's output goes
through a pipe that a thread copies to its log file, so a test can wait for a line to be written (woken by
the line itself) instead of polling the file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent
APP = "tests.conformance.asgi:application"
START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(
    server: str, port: int, app: str = APP, *, access_log: bool = False, log_level: str | None = None
) -> list[str]:
    """The command line that serves ``app`` with ``server`` (``daphne`` or ``uvicorn``) on ``port``.

    Daphne writes its access log to stdout at its default verbosity, always; uvicorn's default access log
    (``uvicorn.access``) is turned off unless ``access_log``, and its lifespan too (Channels' router has none).
    ``log_level`` sets uvicorn's (the bench: ``"warning"``).
    """
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--websocket_timeout", "-1", app]
    if server == "uvicorn":
        options = ["--lifespan", "off", *([] if access_log else ["--no-access-log"])]
        options += ["--log-level", log_level] if log_level else []
        return [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), *options, app]
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


class OutputCopy:
    """Copies a process's output pipe to ``log`` line by line in a thread and wakes those waiting for lines."""

    def __init__(self, stream: IO[bytes], log: Path) -> None:
        self.lines: list[str] = []
        self.ended = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._copy, args=(stream, log), daemon=True)
        self._thread.start()

    def _copy(self, stream: IO[bytes], log: Path) -> None:
        with stream, log.open("ab") as out:
            for line in iter(stream.readline, b""):
                out.write(line)
                out.flush()
                with self._changed:
                    self.lines.append(line.decode(errors="replace"))
                    self._changed.notify_all()
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float, start: int = 0) -> list[str]:
        """The lines from line ``start`` on once ``predicate`` holds for them; ``TimeoutError`` (with the lines)
        if it does not within ``timeout`` seconds or the process ends first."""
        with self._changed:
            self._changed.wait_for(lambda: self.ended or predicate(self.lines[start:]), timeout)
            lines = self.lines[start:]
        if not predicate(lines):
            raise TimeoutError("the server did not print what was awaited; it printed:\n" + "".join(lines)[-4000:])
        return lines

    def join(self, timeout: float = 10) -> None:
        """Wait until the copy reached the end of the output (the process exited)."""
        self._thread.join(timeout)


@dataclass
class Server:
    """A running conformance server."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    copy: OutputCopy | None = None

    def output(self) -> str:
        """What the server printed so far."""
        return self.log.read_text(errors="replace")

    def shut_down(self) -> None:
        """Stop the process now (the context manager's exit does it too) and wait until its output is copied."""
        stop(self.process)
        if self.copy is not None:
            self.copy.join()

    def mark(self) -> int:
        """The number of lines printed so far: a ``start`` for :meth:`wait_for_lines`."""
        assert self.copy is not None, "only conformance_server() copies the output"
        return len(self.copy.lines)

    def wait_for_lines(
        self, predicate: Callable[[list[str]], bool], start: int = 0, timeout: float = START_TIMEOUT
    ) -> list[str]:
        """The lines printed from line ``start`` on, once ``predicate`` holds for them (bounded by ``timeout``)."""
        assert self.copy is not None, "only conformance_server() copies the output"
        return self.copy.wait_for(predicate, timeout, start)


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
    server: str = "daphne", *, env: dict[str, str] | None = None, app: str = APP, access_log: bool = False
) -> Iterator[Server]:
    """Run the conformance server (``shared/conformance.md``), or another ASGI ``app`` built on it, as a real
    process; see :func:`server_command` for ``access_log``. Its output is unbuffered, so each line is in
    :meth:`Server.output` once written."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="realtime-server-") as tmp:
        log = Path(tmp) / "server.log"
        full_env = {**os.environ, "CONFORMANCE_DB": str(Path(tmp) / "db.sqlite3"), "PYTHONUNBUFFERED": "1"}
        full_env.update(env or {})
        full_env.pop("DJANGO_SETTINGS_MODULE", None)
        log.touch()
        process = subprocess.Popen(
            server_command(server, port, app, access_log=access_log),
            cwd=REPO_ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        copy = OutputCopy(process.stdout, log)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/generateJwtToken", process, log)
            yield Server(f"http://127.0.0.1:{port}", process, log, copy)
        finally:
            stop(process)
            copy.join()


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


POSTGRES = "postgresql://postgres@127.0.0.1:5432"
"""The machine's PostgreSQL (trust auth); tests make databases of their own on it (:func:`postgres_database`)."""


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database named after ``prefix``, this process and a random part; yields its URL and
    drops it afterwards (closing what is still connected to it)."""
    import psycopg  # the dev extra has it; only the PostgreSQL suites need it

    def admin(sql: str) -> None:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql)

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
