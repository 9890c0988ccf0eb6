"""Stateful reconnect across two server processes sharing a private Redis, driven by the official JS client.

The Node scenarios are ``tests/js-conformance/stateful-reconnect-across.test.mjs``: the client's socket runs
through a TCP proxy that the test cuts and points at the other process, as a load balancer without sticky
sessions would. The new socket is relayed to the process that owns the connection; when that process was killed
and no durable buffer keeps the connection, the client is told at once (its reconnect is refused).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import REPO_ROOT, Server, conformance_server, redis_server

pytestmark = pytest.mark.timeout(300)

SCENARIOS = "tests/js-conformance/stateful-reconnect-across.test.mjs"
NODE_TIMEOUT = 240


@contextlib.contextmanager
def two_servers(layer: str, tmp_path: Path, **extra: str) -> Iterator[tuple[Server, Server]]:
    """A Daphne and a uvicorn process on one private Redis, with channel layer ``layer``."""
    with redis_server() as url:
        env = {"REDIS_URL": url, "CHANNEL_LAYER": layer, "CONFORMANCE_DB": str(tmp_path / "db.sqlite3"), **extra}
        with conformance_server("daphne", env=env) as first, conformance_server("uvicorn", env=env) as second:
            yield first, second


@pytest.fixture(params=["core", "pubsub"])
def servers(request, tmp_path):
    with two_servers(request.param, tmp_path) as pair:
        yield pair


def run_node(pattern: str, passes: int, **env: str) -> str:
    """``node --test`` over the scenarios whose names match ``pattern``; fails unless exactly ``passes`` of them ran
    and passed (the others are skipped by the pattern)."""
    full_env = {**os.environ, "CLIENT": "official", **env}
    full_env.pop("NODE_OPTIONS", None)
    node = subprocess.Popen(
        [shutil.which("node") or "node", "--test", "--test-reporter=tap", f"--test-name-pattern={pattern}", SCENARIOS],
        cwd=REPO_ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = node.communicate(timeout=NODE_TIMEOUT)
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()
    assert node.returncode == 0, output[-8000:]
    assert f"# pass {passes}\n" in output and "# fail 0\n" in output, output[-4000:]
    return output


def test_a_resumed_socket_on_the_other_process_is_relayed_to_the_owner(node_modules, servers):
    first, second = servers
    run_node("resumes exactly once", 2, SERVER_URL=first.url, SERVER2_URL=second.url)


def test_a_dead_owner_without_a_durable_buffer_is_reported_to_the_client(node_modules, servers):
    first, second = servers
    run_node("no durable buffer", 1, SERVER_URL=first.url, SERVER2_URL=second.url, OWNER_PID=str(first.process.pid))
    assert first.process.wait(timeout=10) == -signal.SIGKILL
    assert "Traceback" not in second.output()


@pytest.mark.parametrize("layer", ["core", "pubsub"])
def test_a_dead_owner_with_the_durable_store_is_taken_over_without_loss(node_modules, layer, tmp_path):
    with two_servers(layer, tmp_path, STATEFUL_RECONNECT_STORE="1", REALTIME_LOG_LEVEL="INFO") as (first, second):
        urls = {"SERVER_URL": first.url, "SERVER2_URL": second.url}
        try:
            run_node("takes the connection over", 1, **urls, OWNER_PID=str(first.process.pid), DURABLE="1")
        except AssertionError as exc:
            owner, taker = first.output()[-4000:], second.output()[-6000:]
            raise AssertionError(f"{exc}\n--- the owner ---\n{owner}\n--- the taker ---\n{taker}") from None
        assert first.process.wait(timeout=10) == -signal.SIGKILL
        assert "Traceback" not in second.output()


def test_a_connection_taken_over_from_a_dead_owner_never_leaves_its_presence_groups(node_modules, tmp_path):
    """Presence's default timings (``PRESENCE_LIVENESS_TTL`` 10 s, more than the relay's 5 s attach timeout): the
    takeover comes before the sweep of the dead owner's entries, which must leave the connection's entries alone."""
    with two_servers("pubsub", tmp_path, STATEFUL_RECONNECT_STORE="1", REALTIME_LOG_LEVEL="INFO") as (first, second):
        urls = {"SERVER_URL": first.url, "SERVER2_URL": second.url}
        try:
            run_node("presence shows no leave", 1, **urls, OWNER_PID=str(first.process.pid), DURABLE="1")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- the taker ---\n{second.output()[-6000:]}") from None
        assert first.process.wait(timeout=10) == -signal.SIGKILL
        assert "Traceback" not in second.output()
