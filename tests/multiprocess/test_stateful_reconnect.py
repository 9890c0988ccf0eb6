"""Stateful reconnect across two server processes sharing a private Redis, driven by the official JS client.

The Node scenarios are ``tests/js-conformance/stateful-reconnect-across.test.mjs``: the client's socket runs
through a TCP proxy that the test cuts and points at the other process, as a load balancer without sticky
sessions would. The new socket is relayed to the process that owns the connection; when that process was killed
and no durable buffer keeps the connection, the client is told at once (its reconnect is refused).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pytest

from tests.servers import REPO_ROOT, conformance_server, redis_server

pytestmark = pytest.mark.timeout(300)

SCENARIOS = "tests/js-conformance/stateful-reconnect-across.test.mjs"
NODE_TIMEOUT = 240


@pytest.fixture(params=["core", "pubsub"])
def servers(request, tmp_path):
    """A Daphne and a uvicorn process on one private Redis, with the given channel layer."""
    with redis_server() as url:
        env = {"REDIS_URL": url, "CHANNEL_LAYER": request.param, "CONFORMANCE_DB": str(tmp_path / "db.sqlite3")}
        with conformance_server("daphne", env=env) as first, conformance_server("uvicorn", env=env) as second:
            yield first, second


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
    run_node("owner dies", 1, SERVER_URL=first.url, SERVER2_URL=second.url, OWNER_PID=str(first.process.pid))
    assert first.process.wait(timeout=10) == -signal.SIGKILL
    assert "Traceback" not in second.output()
