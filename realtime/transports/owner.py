"""The owner side of an HTTP connection (Server-Sent Events or long polling).

POST sends may arrive at any process; they are routed to the owner (``local.py``), which queues them
and feeds them to the handler one at a time, in arrival order, from its own reader task.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import Any

from .. import local
from ..endpoints import ConnectionInfo, Endpoint, Handler
from ..registry import registry

logger = logging.getLogger("realtime.transports")


class HttpOwner(ABC):
    """Runs one connection's handler for an HTTP transport; subclasses provide ``send`` and ``close``."""

    name: str
    transfer_formats: frozenset[str]

    def __init__(self, endpoint: Endpoint, info: ConnectionInfo, token: str) -> None:
        self.token = token
        self.info = info
        self.handler: Handler = endpoint.create(self, info)
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._finished = False

    def start(self) -> None:
        """Register with the process table and start the handler and the reader of POSTed data."""
        table = local.table()
        table.owners[self.token] = self
        table.start_housekeeping()
        self.handler.open()
        self._reader = asyncio.create_task(self._read(), name=f"realtime-{self.name}-reader")

    def post(self, data: bytes) -> None:
        """Queue a POST body for the handler (bodies are handled in arrival order)."""
        if not self._finished:
            self._inbox.put_nowait(data)

    async def _read(self) -> None:
        while True:
            data = await self._inbox.get()
            try:
                await self.handler.receive(self.decode(data))
            except Exception:
                logger.exception("realtime: handling data of %s failed", self.info.connection_id)

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
        try:
            await self.handler.closed(exception)
        finally:
            table = local.table()
            if table.owners.get(self.token) is self:
                del table.owners[self.token]
                table.claimed.pop(self.token, None)
            await registry().release(self.token)

    @abstractmethod
    async def send(self, frame: Any) -> None:
        """Write one frame to the client."""

    @abstractmethod
    async def close(self) -> None:
        """End the transport from the server side."""
