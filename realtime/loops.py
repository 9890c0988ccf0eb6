"""One value per running event loop: the connection table, the presence tracker, Redis clients, topic feeds.

A server process runs one event loop, so in production "per loop" means "per process". Tests, and sync
calls made outside a server, run short-lived loops of their own: their values are made for them and go
with them (the loop is a weak key), and never leak into another loop, where their futures and
connections would not work.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """A value of ``factory()`` for each running event loop, made on first use."""

    __slots__ = ("_factory", "_values", "_last")

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], T] | None = None
        """The loop asked for last and its value: a server's one loop skips the weak-key lookup."""

    def get(self) -> T:
        """The running loop's value, made now if it has none."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]
        value = self._values.get(loop)
        if value is None:
            value = self._values[loop] = self._factory()
        self._last = (weakref.ref(loop, self._loop_gone), value)
        return value

    def _loop_gone(self, ref: weakref.ref[asyncio.AbstractEventLoop]) -> None:
        """The last loop was collected: its value goes with it (as from ``_values``)."""
        last = self._last
        if last is not None and last[0] is ref:
            self._last = None

    def current(self) -> T | None:
        """The running loop's value, or ``None`` if it has none yet or no loop runs (nothing is made)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]
        return self._values.get(loop)

    def pop(self) -> T | None:
        """Forget the running loop's value and return it (to close it), or ``None``."""
        self._last = None
        return self._values.pop(asyncio.get_running_loop(), None)

    def values(self) -> list[T]:
        """The values of every loop alive now (diagnostics and tests)."""
        return list(self._values.values())


def _report_failure(task: asyncio.Task[Any]) -> None:
    """Log a background loop that ended with an error: it runs no more (until started again)."""
    if not task.cancelled() and task.exception() is not None:
        error = task.exception()
        logging.getLogger("realtime").error("realtime: %s stopped on an error", task.get_name(), exc_info=error)


class Services:
    """The background tasks of one event loop: each started once by name, all stopped together.

    Loops started here (the process channel's receive loop, the presence beat, the keep-alive tick...) and
    short tasks spawned to answer layer requests have one owner, which cancels and awaits them at shutdown
    (and at the end of each test); closers run after that (leaving layer groups, say).
    """

    def __init__(self) -> None:
        self._named: dict[str, asyncio.Task[Any]] = {}
        self._spawned: set[asyncio.Task[Any]] = set()
        self._closers: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def start(self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``factory()`` as a task named ``name`` unless one runs already."""
        running = self._named.get(name)
        if running is None or running.done():
            task = self._named[name] = asyncio.create_task(factory(), name=f"realtime-{name}")
            task.add_done_callback(_report_failure)

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a short task owned here (answers to layer requests, the end of a connection)."""
        task = asyncio.ensure_future(coroutine)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)
        return task

    def on_close(self, closer: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Await ``closer()`` when the services close, after the tasks have stopped."""
        self._closers.append(closer)

    async def close(self) -> None:
        """Cancel and await every task, then run the closers."""
        tasks = [*self._named.values(), *self._spawned]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for closer in self._closers:
            await closer()


_services: PerLoop[Services] = PerLoop(Services)
_channel_hooks: list[Callable[[], None]] = []


def on_channel_start(hook: Callable[[], None]) -> None:
    """Call ``hook()`` on its loop when this process's layer channel starts (the change-capture listener)."""
    if hook not in _channel_hooks:
        _channel_hooks.append(hook)


def channel_started() -> None:
    """Run the :func:`on_channel_start` hooks (called by ``lifetime`` on the channel's loop)."""
    for hook in list(_channel_hooks):
        try:
            hook()
        except Exception:
            logging.getLogger("realtime.lifetime").exception("realtime: a channel start hook failed")


def services() -> Services:
    """The services of the running event loop."""
    return _services.get()


async def close() -> None:
    """Stop the running loop's services (server shutdown, the end of a test)."""
    found = _services.pop()
    if found is not None:
        await found.close()
