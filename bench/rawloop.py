"""The ceiling of the comparison run: a raw ASGI WebSocket loop, with no Django and no Channels.

It speaks just enough SignalR JSON for the bench client: the handshake (``{}\\x1e``), Invocation -> Completion,
Pings ignored; ``Echo(x)`` returns ``x``, ``Join(group)`` adds this socket's ``send`` to an in-process dict
``group -> set of sends``, and ``Broadcast(group, payload)`` encodes the ``Receive`` frame once and writes it
to each member's socket in turn. ``POST <path>/negotiate`` answers a negotiate (version 1, WebSockets only)
so the connects/s scenario can do the full connect. Serve it with ``uvicorn bench.rawloop:application``.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]

RS = "\x1e"
HANDSHAKE_REPLY: Message = {"type": "websocket.send", "text": "{}" + RS}
encode = msgspec.json.encode
decode = msgspec.json.decode
GROUPS: dict[str, set[Send]] = {}


def completion(invocation_id: str, result: Any) -> Message:
    """The ``websocket.send`` event of a Completion carrying ``result``."""
    frame = encode({"type": 3, "invocationId": invocation_id, "result": result}).decode() + RS
    return {"type": "websocket.send", "text": frame}


async def broadcast(group: str, payload: Any) -> None:
    """Encode the ``Receive`` invocation once and write it to every member of ``group``."""
    frame = encode({"type": 1, "target": "Receive", "arguments": [payload]}).decode() + RS
    event: Message = {"type": "websocket.send", "text": frame}
    for member in list(GROUPS.get(group, ())):
        with contextlib.suppress(Exception):  # a member that is closing: the others still get it
            await member(event)


async def invoke(send: Send, joined: set[str], target: str, arguments: list[Any]) -> Any:
    """Run one hub method of the bench: ``Echo``, ``Join`` or ``Broadcast``."""
    if target == "Echo":
        return arguments[0]
    if target == "Join":
        GROUPS.setdefault(arguments[0], set()).add(send)
        joined.add(arguments[0])
    elif target == "Broadcast":
        await broadcast(arguments[0], arguments[1])
    return None


async def websocket(receive: Receive, send: Send) -> None:
    """One connection: accept, then answer records until the client goes; leave every group at the end."""
    joined: set[str] = set()
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.connect":
                await send({"type": "websocket.accept"})
                continue
            if kind != "websocket.receive":
                return
            data = message.get("text") or (message.get("bytes") or b"").decode()
            for record in data.split(RS):
                if not record:
                    continue
                parsed = decode(record)
                kind_number = parsed.get("type")
                if kind_number is None:
                    await send(HANDSHAKE_REPLY)
                elif kind_number == 1:
                    result = await invoke(send, joined, parsed["target"], parsed.get("arguments", []))
                    invocation_id = parsed.get("invocationId")
                    if invocation_id is not None:
                        await send(completion(invocation_id, result))
    finally:
        for group in joined:
            members = GROUPS.get(group)
            if members is not None:
                members.discard(send)
                if not members:
                    del GROUPS[group]


async def negotiate(scope: Message, receive: Receive, send: Send) -> None:
    """``POST .../negotiate``: a version-1 negotiate answer; anything else is a 404."""
    while (await receive()).get("more_body"):
        pass
    if scope["method"] != "POST" or not scope["path"].endswith("/negotiate"):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    token = secrets.token_urlsafe(16)
    body = encode(
        {
            "negotiateVersion": 1,
            "connectionId": token[:11],
            "connectionToken": token,
            "availableTransports": [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}],
        }
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def application(scope: Message, receive: Receive, send: Send) -> None:
    """The ASGI entry point: WebSockets on any path, negotiate over HTTP."""
    if scope["type"] == "websocket":
        await websocket(receive, send)
    elif scope["type"] == "http":
        await negotiate(scope, receive, send)
