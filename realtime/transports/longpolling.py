"""The long-polling transport: an owner with a mailbox, reached by polls from any process.

Theory of operation
-------------------
The first poll (on whichever process) claims the connection, starts a :class:`LongPollingTransport`
there and is answered at once with an empty 200. From then on the owner keeps the mailbox of frames not
yet delivered. Each later poll, arriving locally or over the channel layer, waits in :meth:`poll` until
the mailbox has data (200 with all of it), ``POLL_TIMEOUT`` passes (empty 200), a newer poll supersedes
it (204), or the connection ended and its last frames were delivered (204). Between polls a timer runs:
no poll for ``DISCONNECT_TIMEOUT`` ends the connection. No pings are sent on this transport.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .. import events, keepalive, lifetime, loops
from ..conf import realtime_settings
from ..protocol.negotiate import LONG_POLLING
from .claim import NO_CONNECTION
from .owner import HttpOwner, owner_of

logger = logging.getLogger("realtime.transports.longpolling")

NO_CONTENT = (204, b"")


class LongPollingTransport(HttpOwner):
    """One long-polling connection: its mailbox and its poll bookkeeping."""

    name = LONG_POLLING
    transfer_formats = frozenset({"Text", "Binary"})
    keep_alive = False  # the client sends no pings and polls show it is alive

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mailbox: list[bytes] = []
        self._mailbox_bytes = 0
        self._wake = asyncio.Event()
        self._generation = 0
        self._active_polls = 0
        self._closed = False
        self._idle_since: float | None = None
        """When the last poll ended (``time.monotonic()``), while none is active."""
        self._ending: asyncio.Task[None] | None = None
        self.limit = int(realtime_settings.MAX_OUTBOUND_BYTES)

    def start(self) -> None:
        """Start the handler and the disconnect clock (the first poll was just answered)."""
        super().start()
        self._idle_since = time.monotonic()
        keepalive.watch(self, float(realtime_settings.DISCONNECT_TIMEOUT))

    async def send(self, frame: str | bytes) -> None:
        """Add a frame to the mailbox and wake the waiting poll."""
        if self._closed:
            return
        data = frame.encode("utf-8") if isinstance(frame, str) else bytes(frame)
        self._mailbox.append(data)
        self._mailbox_bytes += len(data)
        self._wake.set()
        if self._mailbox_bytes > self.limit:
            logger.warning(
                "realtime: closing long-polling %s: %d bytes undelivered", self.info.connection_id, self._mailbox_bytes
            )
            self._end(ConnectionError("The long-polling client does not poll fast enough."))

    async def close(self) -> None:
        """End the connection once the frames in the mailbox are delivered."""
        self._closed = True
        self._wake.set()

    async def poll(self, timeout: float) -> tuple[int, bytes]:
        """Wait for frames; returns ``(status, body)`` for the poll's HTTP response."""
        self._generation += 1
        generation = self._generation
        self._active_polls += 1
        self._idle_since = None
        self._wake.set()  # an older poll sees it was superseded
        try:
            async with asyncio.timeout(timeout):
                return await self._next(generation)
        except TimeoutError:
            return 200, b""
        finally:
            self._active_polls -= 1
            if not self._active_polls:
                self._idle_since = time.monotonic()

    async def _next(self, generation: int) -> tuple[int, bytes]:
        while True:
            if generation != self._generation:
                return NO_CONTENT
            if self._mailbox:
                body = b"".join(self._mailbox)
                self._mailbox.clear()
                self._mailbox_bytes = 0
                return 200, body
            if self._closed:
                self._end(None)
                return NO_CONTENT
            self._wake.clear()
            await self._wake.wait()

    async def delete(self) -> None:
        """``DELETE [base]``: end the connection now (a clean end)."""
        self._closed = True
        self._generation += 1
        self._wake.set()
        self._idle_since = None
        keepalive.unwatch(self)
        await self.finish(None)

    def tick(self, now: float, stalled: float) -> None:
        """The keep-alive clock's duty: end the connection after ``DISCONNECT_TIMEOUT`` without a poll (time the
        process stood still does not count)."""
        if self._idle_since is None:
            return
        self._idle_since += stalled
        if now - self._idle_since >= float(realtime_settings.DISCONNECT_TIMEOUT):
            self._end(None if self._closed else TimeoutError("No poll arrived within DISCONNECT_TIMEOUT."))

    def _end(self, exception: Exception | None) -> None:
        if self._ending is None:
            self._closed = True
            self._idle_since = None
            keepalive.unwatch(self)
            self._ending = asyncio.ensure_future(self.finish(exception))


async def _answer(event: events.Event) -> None:
    """A poll or a DELETE routed here from another process: run it on the owner, send back the outcome."""
    owner = owner_of(event["token"])
    if not isinstance(owner, LongPollingTransport):
        reply = events.result(status=404, body=NO_CONNECTION.encode())
    elif event["type"] == events.POLL:
        status, body = await owner.poll(event["timeout"])
        reply = events.result(status=status, body=body)
    else:
        await owner.delete()
        reply = events.result(status=202, body=b"")
    await lifetime.send(event["reply_channel"], reply)


lifetime.route(events.POLL, lambda event: loops.services().spawn(_answer(event)))
lifetime.route(events.DELETE, lambda event: loops.services().spawn(_answer(event)))
