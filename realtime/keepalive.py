"""One keep-alive clock per process, instead of a timer per connection.

On every tick each connection it watches does its clock duties (``HubConnection.tick``): the handshake
timeout, a Ping after ``KEEP_ALIVE_INTERVAL`` without writing, a close after ``CLIENT_TIMEOUT`` without
reading, a close when its access token expired. An idle connection then costs one set entry, not a timer
handle that re-arms itself. The tick is a quarter of the shortest duty among the connections it ever
watched, between 10 ms and 1 s: with SignalR's defaults a Ping goes 15 to 16 s after the last write.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from . import loops

if TYPE_CHECKING:
    from .connection import HubConnection

FINEST = 0.01
COARSEST = 1.0


class Clock:
    """The clock of one event loop and the connections it watches."""

    def __init__(self) -> None:
        self.connections: set[HubConnection] = set()
        self.interval = COARSEST
        self._sooner: asyncio.Event | None = None

    def watch(self, connection: HubConnection, shortest_duty: float) -> None:
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
        while True:
            self._sooner.clear()
            try:
                async with asyncio.timeout(self.interval):
                    await self._sooner.wait()  # a finer tick was asked for: start it now
            except TimeoutError:
                pass
            now = time.monotonic()
            for connection in list(self.connections):
                connection.tick(now)


_clocks: loops.PerLoop[Clock] = loops.PerLoop(Clock)


def watch(connection: HubConnection, shortest_duty: float) -> None:
    """Tick ``connection`` on the running loop's clock (see :meth:`Clock.watch`)."""
    _clocks.get().watch(connection, shortest_duty)


def unwatch(connection: HubConnection) -> None:
    """Stop ticking ``connection`` (it closed)."""
    clock = _clocks.current()
    if clock is not None:
        clock.connections.discard(connection)
