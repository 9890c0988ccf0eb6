"""Push from Celery tasks: a real worker (prefork pool) on the test's private Redis broker pushes with
the sync API to clients of a daphne server sharing that Redis as channel layer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.push.conftest import PushStack
from tests.servers import REPO_ROOT, START_TIMEOUT, free_port, stop

pytestmark = pytest.mark.timeout(120)

LOOP_ERRORS = ("Event loop is closed", "Unclosed", "Task was destroyed", "Traceback")


class Worker:
    """A running ``celery worker`` and its log."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def worker(push_stack: PushStack) -> Iterator[Worker]:
    """``celery -A tests.pushapp.celery_app worker`` (the default prefork pool, one child) against the private
    Redis, in a process group of its own: whatever is left of it after a warm shutdown is killed."""
    env = {**os.environ, **push_stack.env, "DJANGO_SETTINGS_MODULE": "tests.conformance.settings"}
    command = [
        sys.executable, "-m", "celery", "-A", "tests.pushapp.celery_app", "worker", "--pool=prefork",
        "--concurrency=1",
        "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=INFO",
        f"--hostname=push-{free_port()}@127.0.0.1",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="realtime-worker-") as tmp:
        log = Path(tmp) / "worker.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while " ready." not in log.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"celery worker did not start:\n{log.read_text(errors='replace')[-4000:]}")
                time.sleep(0.2)
            yield Worker(process, log)
        finally:
            stop(process)  # SIGTERM: warm shutdown, the pool's child exits with it (SIGKILL after 10 s)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # a child left behind by a killed parent


async def start(stack: PushStack, task: str, body: dict, headers: dict | None = None) -> str:
    status, answer = await stack.post(f"/pushapp/tasks/{task}", body, headers)
    assert status == 202, answer
    return answer["taskId"]


async def test_progress_goes_to_every_connection_of_the_requesting_user(push_stack, worker):
    _, token = await asyncio.to_thread(_token, push_stack, "alice")
    tabs = [await push_stack.client(f"chathub?access_token={token}") for _ in range(2)]
    stranger = await push_stack.client("chathub")
    try:
        [asking_id] = await _own_id(tabs[0], "alice-tab-0")
        headers = {"X-Realtime-Connection-Id": asking_id}
        task_id = await start(push_stack, "progress", {"user": "alice", "steps": 4}, headers)
        for tab in tabs:
            reports = [(await tab.receive_invocation("TaskProgress"))[0] for _ in range(4)]
            assert [(r["taskId"], r["percent"], r["done"]) for r in reports] == [
                (task_id, 25.0, False), (task_id, 50.0, False), (task_id, 75.0, False), (task_id, 100.0, True),
            ]  # fmt: skip
            assert reports[0]["message"] == "step 1"
        assert (await tabs[0].receive_invocation("TaskDone"))[0]["taskId"] == task_id
        with pytest.raises(TimeoutError):
            await tabs[1].receive_invocation("TaskDone", timeout=0.5)
        with pytest.raises(TimeoutError):
            await stranger.receive_invocation("TaskProgress", timeout=0.5)
    finally:
        for client in [*tabs, stranger]:
            await client.close()


async def test_client_results_from_a_task_with_a_timeout(push_stack, worker):
    target, reply = await push_stack.client("testhub"), await push_stack.client("testhub")
    target.handlers["Confirm"] = lambda question: {"ok": question == "proceed?"}
    try:
        target_id, reply_id = await target.invoke("GetCallerConnectionId"), await reply.invoke("GetCallerConnectionId")
        answering = asyncio.ensure_future(target.serve(30))  # reads, and answers Confirm
        try:
            await start(push_stack, "ask", {"target": target_id, "reply": reply_id, "timeout": 10})
            assert await reply.receive_invocation("Answer", timeout=20) == [{"result": {"ok": True}}]
            del target.handlers["Confirm"]
            await start(push_stack, "ask", {"target": target_id, "reply": reply_id, "timeout": 10})
            assert await reply.receive_invocation("Answer", timeout=20) == [
                {"error": "ClientResultError: Client didn't provide a result."}
            ]
        finally:
            answering.cancel()
            await asyncio.gather(answering, return_exceptions=True)
        # the target stops reading: the task's wait ends with its timeout
        started = time.monotonic()
        await start(push_stack, "ask", {"target": target_id, "reply": reply_id, "timeout": 1})
        [answer] = await reply.receive_invocation("Answer", timeout=20)
        assert answer["error"].startswith("TimeoutError") and time.monotonic() - started < 10, answer
    finally:
        await target.close()
        await reply.close()


async def test_worker_closes_layer_connections_and_logs_no_loop_errors(push_stack, worker):
    import redis

    watcher = await push_stack.client("chathub", "burst")
    counter = redis.Redis.from_url(push_stack.redis_url)
    try:
        await start(push_stack, "burst", {"group": "burst", "count": 3})  # warm up: broker connections settled
        for index in range(3):
            assert await watcher.receive_invocation("Burst") == [index]
        before = len(await asyncio.to_thread(counter.client_list))
        await start(push_stack, "burst", {"group": "burst", "count": 30})
        for index in range(30):
            assert await watcher.receive_invocation("Burst") == [index]
        await asyncio.sleep(0.3)
        assert len(await asyncio.to_thread(counter.client_list)) <= before  # 30 pushes, no connection left behind
        log = worker.output()
        assert not [line for line in log.splitlines() if any(error in line for error in LOOP_ERRORS)], log[-4000:]
    finally:
        counter.close()
        await watcher.close()


def _token(stack: PushStack, user: str) -> tuple[int, str]:
    import urllib.request

    with urllib.request.urlopen(f"{stack.server.url}/generateJwtToken?user={user}", timeout=20) as response:
        return response.status, response.read().decode()


async def _own_id(client, group: str) -> list[str]:
    await client.invoke("JoinGroup", group)
    return await client.invoke("GetGroupMembers", group)
