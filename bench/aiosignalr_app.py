"""The hub of the bench on aiosignalr (a pure-ASGI Python SignalR server), for the comparison run.

``Echo(message)`` returns ``message``, ``Join(group)`` adds the caller to ``group``, ``Broadcast(group,
payload)`` sends ``Receive(payload)`` to the group: the same work as ``bench.hubs.BenchHub``. aiosignalr
finds methods by lower-cased name and sends a result only for methods with a return annotation other than
``None``. Its ASGI app serves ``POST /hub/negotiate`` and WebSockets on any path; it sends every frame as a
binary WebSocket message, JSON protocol included (the bench client decodes both kinds).
"""

from __future__ import annotations

from typing import Any

from aiosignalr.server import Hub, SignalRServer


class BenchHub(Hub):
    """The bench's three methods."""

    async def Echo(self, message: Any) -> Any:  # noqa: N802  (the SignalR target names of the bench)
        return message

    async def Join(self, group: str) -> None:  # noqa: N802
        await self.groups.add(group)

    async def Broadcast(self, group: str, payload: Any) -> None:  # noqa: N802
        await self.clients.group(group).send("Receive", payload)


application = SignalRServer(BenchHub).asgi_app(path="/hub")
