"""start_eagerly: inline when the coroutine never waits, a task that carries on when it does; start_task: a task
whose first step runs at once where Python can."""

from __future__ import annotations

import asyncio
import contextvars
import sys
from typing import Any

import pytest

from realtime.eager import start_eagerly, start_task


async def test_runs_inline_without_a_task():
    spawned: list[object] = []
    done: list[str] = []

    async def write() -> None:
        done.append("written")

    start_eagerly(write(), spawned.append)
    assert done == ["written"] and spawned == []


async def test_a_waiting_coroutine_carries_on_in_a_task():
    ready = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def write() -> None:
        steps.append("started")
        steps.append(await ready)
        await asyncio.sleep(0)
        steps.append("finished")

    tasks: list[asyncio.Task[None]] = []
    start_eagerly(write(), lambda coroutine: tasks.append(asyncio.ensure_future(coroutine)))
    assert steps == ["started"] and len(tasks) == 1
    ready.set_result("resumed")
    await tasks[0]
    assert steps == ["started", "resumed", "finished"]


async def test_cancelling_the_task_reaches_the_coroutine():
    cleaned: list[str] = []

    async def write() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("finally ran")

    tasks: list[asyncio.Task[None]] = []
    start_eagerly(write(), lambda coroutine: tasks.append(asyncio.ensure_future(coroutine)))
    await asyncio.sleep(0)
    tasks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert cleaned == ["finally ran"]


async def test_exceptions_after_a_wait_surface_in_the_task():
    async def write() -> None:
        await asyncio.sleep(0.01)
        raise OSError("socket gone")

    tasks: list[asyncio.Task[None]] = []
    start_eagerly(write(), lambda coroutine: tasks.append(asyncio.ensure_future(coroutine)))
    with pytest.raises(OSError, match="socket gone"):
        await tasks[0]


async def test_a_started_task_runs_its_first_step_at_once_where_python_can_as_a_task_of_its_own() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outside")
    seen: list[object] = []

    async def call() -> str:
        var.set("inside")
        seen.append(asyncio.current_task())
        return "done"

    task = start_task(call())
    assert task.done() is (sys.version_info >= (3, 12))  # 3.12's eager start: never scheduled
    assert await task == "done" and seen == [task]
    assert var.get() == "outside"  # its own context, as any task's


async def test_a_loop_with_a_task_factory_of_its_own_gets_its_task() -> None:
    loop = asyncio.get_running_loop()
    made: list[object] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def call() -> int:
        return 1

    loop.set_task_factory(factory)
    try:
        task = start_task(call())
        assert not task.done() and len(made) == 1
        assert await task == 1
    finally:
        loop.set_task_factory(None)
