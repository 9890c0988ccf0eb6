"""Run a coroutine inline until it first has to wait; only then hand it to a task.

Fan-out writes one frame to each member of a group. Most writes finish without waiting (the server
takes the bytes at once), so a task per member per broadcast is pure overhead: creating it costs about
15 % of a 1,000-member broadcast, and the pending tasks drive the garbage collector into pauses that set
the p99 latency. Python 3.12's ``eager_task_factory`` does this for every task; on 3.11 we do it for
the write path only.

A hub call needs a task of its own (its context, ``current_task()``, cancellation): :func:`start_task` gives
it one whose first step runs at once where Python can (3.12's ``eager_start``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_EAGER_TASKS = sys.version_info >= (3, 12)


def start_eagerly(coroutine: Coroutine[Any, Any, None], spawn: Callable[[Any], object]) -> None:
    """Run ``coroutine`` now; if it suspends, ``spawn`` a task that carries on from where it stopped."""
    try:
        waiting_on = coroutine.send(None)
    except StopIteration:
        return
    spawn(_carry_on(coroutine, waiting_on))


async def _carry_on(coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Drive a started coroutine as a task would: wait for what it yielded, resume, repeat."""
    while True:
        try:
            if waiting_on is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            else:
                await asyncio.wait((waiting_on,))
        except BaseException as exc:  # our own cancellation: deliver it where the coroutine waits
            try:
                waiting_on = coroutine.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting_on = coroutine.send(None)
        except StopIteration:
            return


def start_task(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """A task for ``coro`` on the running loop, its first step run now when Python can (3.12's eager start).

    A call that never suspends then completes here, never scheduled: no loop turn between reading it and
    answering it. It still runs as a task of its own (its own context, ``current_task()``), and a loop with a
    task factory of its own (instrumentation, an eager factory) gets the task made by its factory.
    """
    loop = asyncio.get_running_loop()
    if _EAGER_TASKS and loop.get_task_factory() is None:
        return asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]
    return loop.create_task(coro)
