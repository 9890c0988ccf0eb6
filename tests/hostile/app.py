"""The conformance server plus ``/boundshub``: hub methods that let a hostile test reach every per-connection bound.

``daphne tests.hostile.app:application`` (or uvicorn). The hub keeps SignalR's defaults for every bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

# isort: off
from tests.conformance.asgi import application as conformance  # configures Django before what follows
# isort: on

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path

from realtime.hubs import Hub
from realtime.routing import hub_routes

_forever = [0, 0]


class BoundsHub(Hub):
    """Methods that hold what a connection may hold: a slot, streams, uploads, groups, client results.

    Every bound keeps its default. Pings go every second, so a server that stopped reading a client (all
    its slots busy) learns within seconds that the client is gone: its writes fail; and the client timeout
    is 3 s, so a test can stop the process for longer than that.
    """

    keep_alive_interval = 1.0
    client_timeout = 3.0

    async def on_disconnected(self, exception: Exception | None) -> None:
        await self.clients.group("watchers").asend("Left", self.context.connection_id)

    async def Watch(self) -> str:  # noqa: N802
        """Be told ``Left(connection_id)`` when a connection of this hub ends; returns the caller's id."""
        await self.groups.add(self.context.connection_id, "watchers")
        return self.context.connection_id

    async def Hold(self) -> None:  # noqa: N802
        """Hold an invocation slot until the connection ends (a slow method)."""
        await self.clients.caller.asend("Holding")
        await asyncio.Event().wait()

    async def Echo(self, message: Any) -> Any:  # noqa: N802
        return message

    async def Forever(self) -> AsyncIterator[int]:  # noqa: N802
        """A server stream that yields once, then waits until cancelled (counted in ``Streams``)."""
        _forever[0] += 1
        try:
            yield 0
            await asyncio.Event().wait()
        finally:
            _forever[1] += 1

    async def Streams(self) -> int:  # noqa: N802
        """How many ``Forever`` streams started and ended in this process: ``[started, ended]``."""
        return list(_forever)  # type: ignore[return-value]

    async def Upload(self, stream: AsyncIterator[Any]) -> int:  # noqa: N802
        """Count the items of an upload stream (which a hostile client never completes)."""
        return sum([1 async for _ in stream])

    async def JoinGroup(self, group: str) -> None:  # noqa: N802
        """Join a group (this hub does not track presence)."""
        await self.groups.add(self.context.connection_id, group)

    async def Ask(self) -> Any:  # noqa: N802
        """Wait for a client result that a hostile client never gives."""
        return await self.clients.caller.invoke("Never", timeout=600)


http_routes, websocket_routes = hub_routes({"boundshub": BoundsHub})
application = ProtocolTypeRouter(
    {
        "http": URLRouter([*http_routes, re_path(r"", conformance.application_mapping["http"])]),
        "websocket": URLRouter([*websocket_routes, re_path(r"", conformance.application_mapping["websocket"])]),
    }
)
