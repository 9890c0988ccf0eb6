"""The owner side of an HTTP connection (Server-Sent Events or long polling).

POST sends may arrive at any process; they are routed to the owner (``local.py``), which feeds their
bodies to the handler one at a time, in arrival order, from its own reader task. A POST is answered
once the handler took its body in, so a handler that stops reading (every invocation slot busy, see
``realtime.slots``) delays the answer, and the official clients, which send one POST at a time, wait:
that is this transport's push-back. Bodies of concurrent POSTs wait in the inbox while their total
stays within ``MAX_POST_SIZE``; a POST past that is refused with 429.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import deque
from typing import Any

from .. import events, lifetime, loops
from ..conf import realtime_settings
from ..endpoints import ConnectionHandlerLike, ConnectionInfo, Endpoint
from . import claim

logger = logging.getLogger("realtime.transports")

HANDLED, TOO_MANY, GONE = 200, 429, 404
"""How :meth:`HttpOwner.post` ends, as the HTTP status the POST answers."""


class HttpOwner(ABC):
    """Runs one connection's handler for an HTTP transport; subclasses provide ``send`` and ``close``."""

    name: str
    transfer_formats: frozenset[str]
    keep_alive: bool
    can_pause = True  # a POST is answered once its body was taken in: the client's next send waits
    resume_token: str | None = None  # stateful reconnect is for WebSockets only

    def __init__(self, endpoint: Endpoint, info: ConnectionInfo, token: str) -> None:
        self.token = token
        self.info = info
        self.handler: ConnectionHandlerLike = endpoint.create(self, info)
        self._inbox: deque[tuple[bytes, asyncio.Future[int]]] = deque()
        self._inbox_bytes = 0
        self._wake = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._finished = False

    def start(self) -> None:
        """Register as the owner of the token in this process; start the handler and the reader of POSTs."""
        _owners.get()[self.token] = self
        self.handler.open()
        self._reader = asyncio.create_task(self._read(), name=f"realtime-{self.name}-reader")

    async def post(self, data: bytes) -> int:
        """Hand a POST body to the handler; returns the status to answer, once the handler took it in.

        200 when handled; 429 when the bodies waiting for this connection would pass ``MAX_POST_SIZE``;
        404 when the connection ended first.
        """
        if self._finished:
            return GONE
        if self._inbox and self._inbox_bytes + len(data) > int(realtime_settings.MAX_POST_SIZE):
            return TOO_MANY
        handled: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._inbox.append((data, handled))
        self._inbox_bytes += len(data)
        self._wake.set()
        return await asyncio.shield(handled)  # a POST whose client left does not cancel the handling

    async def _read(self) -> None:
        while True:
            while not self._inbox:
                self._wake.clear()
                await self._wake.wait()
            data, handled = self._inbox.popleft()
            self._inbox_bytes -= len(data)
            try:
                await self.handler.receive(self.decode(data))
            except Exception:
                logger.exception("realtime: handling data of %s failed", self.info.connection_id)
            finally:
                if not handled.done():
                    handled.set_result(GONE if self._finished else HANDLED)

    def decode(self, data: bytes) -> bytes | str:
        """Bytes as the handler should see them (text for Text-only transports)."""
        return data

    async def finish(self, exception: Exception | None = None) -> None:
        """End the connection: stop reading, run the handler's ``closed``, forget the token. Idempotent."""
        if self._finished:
            return
        self._finished = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        for _, handled in self._inbox:
            if not handled.done():
                handled.set_result(GONE)
        self._inbox.clear()
        self._inbox_bytes = 0
        try:
            await self.handler.closed(exception)
        finally:
            owners = _owners.get()
            if owners.get(self.token) is self:
                del owners[self.token]
            await claim.release(self.token)

    @abstractmethod
    async def send(self, frame: Any) -> None:
        """Write one frame to the client."""

    @abstractmethod
    async def close(self) -> None:
        """End the transport from the server side."""


_owners: loops.PerLoop[dict[str, HttpOwner]] = loops.PerLoop(dict)


def owner_of(token: str) -> HttpOwner | None:
    """The owner of the HTTP connection ``token`` if it runs in this process."""
    owners = _owners.current()
    return owners.get(token) if owners is not None else None


async def _answer_data(event: events.Event) -> None:
    """A POST body routed here from another process: acknowledge it at once, answer once it was taken in."""
    owner = owner_of(event["token"])
    if owner is None:
        reply = events.result(status=GONE)
    else:
        await lifetime.send(event["reply_channel"], events.result(ack=True))
        reply = events.result(status=await owner.post(event["data"]))
    await lifetime.send(event["reply_channel"], reply)


lifetime.route(events.TRANSPORT_DATA, lambda event: loops.services().spawn(_answer_data(event)))
