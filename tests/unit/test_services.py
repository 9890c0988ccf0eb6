"""The background loops of an event loop (``loops.Services``)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import sys
import weakref
from typing import Any

from realtime import loops
from tests.unit.test_layer_probes import until


async def test_a_background_loop_that_fails_is_logged(caplog):
    async def broken() -> None:
        raise RuntimeError("broken loop")

    loops.services().start("broken", broken)
    with caplog.at_level("ERROR", logger="realtime"):
        await until(lambda: "realtime-broken stopped on an error" in caplog.text, "logged")
    assert "RuntimeError: broken loop" in caplog.text
    await loops.close()


def test_a_per_loop_value_is_one_per_loop_and_goes_with_its_loop() -> None:
    class Value:
        pass

    per_loop: loops.PerLoop[Value] = loops.PerLoop(Value)

    async def read() -> tuple[Value, Value, Value | None]:
        return per_loop.get(), per_loop.get(), per_loop.current()

    first, again, current = asyncio.run(read())
    assert first is again is current
    gone = weakref.ref(first)
    del first, again, current
    gc.collect()
    assert gone() is None  # the last loop's value is not kept once that loop is collected
    second, _, _ = asyncio.run(read())
    assert isinstance(second, Value)  # a new loop gets a value of its own


async def test_a_started_task_runs_its_first_step_at_once_where_python_can_as_a_task_of_its_own() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outside")
    seen: list[object] = []

    async def call() -> str:
        var.set("inside")
        seen.append(asyncio.current_task())
        return "done"

    task = loops.start_task(call())
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
        task = loops.start_task(call())
        assert not task.done() and len(made) == 1
        assert await task == 1
    finally:
        loop.set_task_factory(None)
