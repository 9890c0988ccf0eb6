"""The bench's work on python-socketio (``socketio.AsyncServer`` as an ASGI app), for the comparison run.

Events (each acknowledged): ``echo(message)`` answers ``message``; ``join(group)`` enters the room ``group``;
``broadcast(group, payload)`` emits ``receive(payload)`` to the room. WebSocket transport only, served at
``/socket.io/``; the bench client speaks Engine.IO 4 / Socket.IO 5 text frames itself (``bench.wire``).
"""

from __future__ import annotations

from typing import Any

import socketio

server = socketio.AsyncServer(async_mode="asgi", transports=["websocket"], cors_allowed_origins=[])


@server.event
async def echo(sid: str, message: Any) -> Any:
    return message


@server.event
async def join(sid: str, group: str) -> bool:
    await server.enter_room(sid, group)
    return True


@server.event
async def broadcast(sid: str, group: str, payload: Any) -> bool:
    await server.emit("receive", payload, room=group)
    return True


application = socketio.ASGIApp(server, socketio_path="socket.io")
