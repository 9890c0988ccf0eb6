"""One value per running event loop: the connection table, the presence tracker, Redis clients, topic feeds.

A server process runs one event loop, so in production "per loop" means "per process". Tests, and sync
calls made outside a server, run short-lived loops of their own: their values are made for them and go
with them (the loop is a weak key), and never leak into another loop, where their futures and
connections would not work.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """A value of ``factory()`` for each running event loop, made on first use."""

    __slots__ = ("_factory", "_values")

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        """The running loop's value, made now if it has none."""
        loop = asyncio.get_running_loop()
        value = self._values.get(loop)
        if value is None:
            value = self._values[loop] = self._factory()
        return value

    def current(self) -> T | None:
        """The running loop's value, or ``None`` if it has none yet (nothing is made)."""
        return self._values.get(asyncio.get_running_loop())

    def pop(self) -> T | None:
        """Forget the running loop's value and return it (to close it), or ``None``."""
        return self._values.pop(asyncio.get_running_loop(), None)

    def values(self) -> list[T]:
        """The values of every loop alive now (diagnostics and tests)."""
        return list(self._values.values())
