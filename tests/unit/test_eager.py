"""start_eagerly: inline when the coroutine never waits, a task that carries on when it does."""

from __future__ import annotations

import asyncio

import pytest

from realtime.eager import start_eagerly


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
