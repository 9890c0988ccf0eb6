"""The ``manage.py realtime_capture run`` worker (servers with ``CAPTURE_LISTENER = "worker"`` publish nothing),
and the publisher's loss signal for changes pruned from the outbox before they were sent."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from tests.capture.conftest import CaptureStack, changes_until
from tests.capture.test_capture import PRUNE_ALL
from tests.servers import REPO_ROOT, conformance_server, postgres_database, redis_server

pytestmark = pytest.mark.timeout(120)

WORKER_STOP = 30.0
PUBLISHERS = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'realtime_capture' AND datname = %s"


@pytest.fixture
def worker_stack() -> Iterator[CaptureStack]:
    """A database of its own, a private Redis and one daphne server that leaves publishing to a worker."""
    with postgres_database("realtime_capture_worker") as url, redis_server() as redis_url:
        env = {
            "REDIS_URL": redis_url,
            "CHANNEL_LAYER": "pubsub",
            "CONFORMANCE_DATABASE_URL": url,
            "CAPTURE_LISTENER": "worker",
        }
        with conformance_server("daphne", env=env) as server:
            yield CaptureStack(url, [server], env)


def start_worker(stack: CaptureStack) -> subprocess.Popen[str]:
    """``python -m django realtime_capture run`` on the stack's database and Redis, started as a
    non-interactive shell starts a background job: SIGINT ignored (the worker must stop on it all the same)."""
    env = {**os.environ, **stack.env, "DJANGO_SETTINGS_MODULE": "tests.conformance.settings", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "django", "realtime_capture", "run"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )


async def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    """Wait until ``condition()`` holds (checked every 50 ms), at most ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(condition):
        assert asyncio.get_running_loop().time() < deadline, "the state was not reached in time"
        await asyncio.sleep(0.05)


async def test_the_worker_publishes_and_signals_changes_pruned_before_they_were_sent(
    worker_stack: CaptureStack,
) -> None:
    stack, t = worker_stack, secrets.token_hex(3)
    database = stack.database_url.rsplit("/", 1)[1]
    client = await stack.client(0)
    await asyncio.to_thread(stack.psql, f"INSERT INTO conformance_item (name) VALUES ('{t}-lost-1'), ('{t}-lost-2')")
    assert stack.sql(PUBLISHERS, [database]) == [(0,)]  # the server's process channel runs, its publisher does not
    stack.sql(PRUNE_ALL)  # gone from the outbox before anyone sent them
    ((newest,),) = stack.sql("SELECT pruned FROM realtime_capture_state")
    worker = start_worker(stack)
    try:
        # the worker leads from position 0, finds the outbox pruned past it: the loss signal, at the old position
        assert (await client.receive_invocation("CaptureReset", 30))[0] == {"lastEventId": "0"}
        await asyncio.to_thread(stack.psql, f"INSERT INTO conformance_item (name) VALUES ('{t}-after')")
        assert [c["name"] for c in await changes_until(client, f"{t}-after")] == [f"{t}-after"]
        await until(lambda: stack.sql("SELECT published FROM realtime_capture_state") == [(newest + 1,)])
        assert stack.sql(PUBLISHERS, [database]) == [(1,)]
    finally:
        worker.send_signal(signal.SIGINT)
        output, _ = await asyncio.to_thread(worker.communicate, timeout=WORKER_STOP)
        await client.close()
    assert worker.returncode == 0, output
    assert "publishing the changes of database 'default'" in output
    assert "changes 1 to" in output and "gone from the outbox unsent" in output, output
