"""Fixtures of the SSE suite: real server processes (daphne, uvicorn) of the SSE test app, a private Redis."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import APP as CONFORMANCE_APP
from tests.servers import REPO_ROOT, Server, free_port, redis_server, server_command, stop, wait_for_http

APP = "tests.sse.app.asgi:application"
"""The SSE test app: the conformance routes plus ``/sse-test/*``."""

__all__ = ["APP", "CONFORMANCE_APP", "sse_server"]


@contextlib.contextmanager
def sse_server(
    server: str, env: dict[str, str] | None = None, *, port: int | None = None, app: str = APP
) -> Iterator[Server]:
    """``app`` under ``server`` (``daphne``/``uvicorn``) as a real process, on ``port`` (default: a free one)."""
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="realtime-sse-") as tmp:
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


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A private redis-server for the module."""
    with redis_server() as url:
        yield url
