"""One keep-alive clock per process, instead of a timer per connection.

On every tick each connection it watches does its clock duties (``Ticking.tick``): the handshake
timeout, a Ping after ``KEEP_ALIVE_INTERVAL`` without writing, a close after ``CLIENT_TIMEOUT`` without
reading, a close when its access token expired; a long-polling connection ends after ``DISCONNECT_TIMEOUT``
without a poll. An idle connection then costs one set entry, not a timer handle that re-arms itself. The
tick is a quarter of the shortest duty among the connections it ever watched, between 10 ms and 1 s: with
SignalR's defaults a Ping goes 15 to 16 s after the last write.

A tick that comes late means the process itself stood still (stopped, or its loop blocked): nothing was
read meanwhile, so that time does not count against any client (``stalled``), or a process resumed after
40 s would close every connection whose pings are still waiting to be read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from django.core.signals import setting_changed

from . import loops
from .conf import hub_option

logger = logging.getLogger("realtime.keepalive")

FINEST = 0.01
COARSEST = 1.0
STALL = 1.0
"""Seconds a tick may come late before the clock counts the delay as a stall of the process."""


_timeouts: dict[type, tuple[float, float, float]] = {}
setting_changed.connect(lambda **kwargs: _timeouts.clear(), weak=False)


def timeouts_of(hub: type) -> tuple[float, float, float]:
    """``(HANDSHAKE_TIMEOUT, KEEP_ALIVE_INTERVAL, CLIENT_TIMEOUT)`` of ``hub``, one tuple per hub."""
    found = _timeouts.get(hub)
    if found is None:
        names = ("HANDSHAKE_TIMEOUT", "KEEP_ALIVE_INTERVAL", "CLIENT_TIMEOUT")
        found = _timeouts[hub] = tuple(float(hub_option(hub, name)) for name in names)  # type: ignore[assignment]
    return found


class Ticking(Protocol):
    """What the clock ticks: a hub connection, a long-polling owner."""

    def tick(self, now: float, stalled: float) -> None:
        """Do the duties due at ``now`` (``time.monotonic()``); ``stalled`` seconds just passed with the process
        standing still."""


class Clock:
    """The clock of one event loop and the connections it watches."""

    def __init__(self) -> None:
        self.connections: set[Ticking] = set()
        self.interval = COARSEST
        self._sooner: asyncio.Event | None = None

    def watch(self, connection: Ticking, shortest_duty: float) -> None:
        """Tick ``connection`` from now on, at least four times per ``shortest_duty`` seconds."""
        self.connections.add(connection)
        interval = min(max(shortest_duty / 4, FINEST), COARSEST)
        if interval < self.interval:
            self.interval = interval
            if self._sooner is not None:
                self._sooner.set()
        loops.services().start("keep-alive", self._run)

    async def _run(self) -> None:
        self._sooner = asyncio.Event()
        last = time.monotonic()
        while True:
            self._sooner.clear()
            interval = self.interval
            try:
                async with asyncio.timeout(interval):
                    await self._sooner.wait()  # a finer tick was asked for: start it now
            except TimeoutError:
                pass
            now = time.monotonic()
            late = now - last - interval
            stalled = late if late > STALL else 0.0
            last = now
            for connection in list(self.connections):
                try:
                    connection.tick(now, stalled)
                except Exception:  # one connection's failure must not stop the clock of every other
                    logger.exception("realtime: the keep-alive duties of %r failed", connection)


_clocks: loops.PerLoop[Clock] = loops.PerLoop(Clock)


def watch(connection: Ticking, shortest_duty: float) -> None:
    """Tick ``connection`` on the running loop's clock (see :meth:`Clock.watch`)."""
    _clocks.get().watch(connection, shortest_duty)


def unwatch(connection: Ticking) -> None:
    """Stop ticking ``connection`` (it closed)."""
    clock = _clocks.current()
    if clock is not None:
        clock.connections.discard(connection)
