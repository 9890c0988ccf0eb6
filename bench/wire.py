"""What the comparison run's client says on the wire: SignalR JSON or Engine.IO 4 / Socket.IO 5 text frames.

A ``Dialect`` builds calls (``Echo``, ``Join``, ``Broadcast``), finds the answers and ``Receive`` payloads in
what arrives, and says what to answer to a server ping. The frames of Socket.IO are simple: ``0{...}`` open,
``40`` connect, ``42[...]`` event (``42<id>[...]`` wants an ack, ``43<id>[...]`` is one), ``2``/``3`` ping/pong.
Binary frames (aiosignalr sends JSON that way) are decoded to text like the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

import msgspec

from bench.common import HANDSHAKE, PING, RS, STEP_TIMEOUT, now
from bench.fastsocket import Socket, connect

decode = msgspec.json.decode
encode = msgspec.json.encode
Answer = tuple[int, Any, Any]  # call id, result, error


class SignalR:
    """SignalR's JSON protocol: records end with 0x1E; Completion (type 3) answers an Invocation (type 1)."""

    name = "signalr"
    keepalive: str | None = PING  # sent by the client every KEEPALIVE_INTERVAL, as the JS client does

    async def handshake(self, ws: Socket) -> None:
        await ws.send(HANDSHAKE)
        reply = await ws.recv(decode=True)
        if not reply.startswith("{}" + RS):
            raise RuntimeError(f"bad handshake reply: {reply!r}")

    def call(self, call_id: int, target: str, arguments: list[Any]) -> str:
        message = {"type": 1, "invocationId": str(call_id), "target": target, "arguments": arguments}
        return encode(message).decode() + RS

    def answers(self, text: str) -> list[Answer]:
        found = []
        for record in text.split(RS):
            if record.startswith('{"type":3'):
                message = decode(record)
                found.append((int(message["invocationId"]), message.get("result"), message.get("error")))
        return found

    def deliveries(self, text: str) -> list[Any]:
        return [decode(record)["arguments"][0] for record in text.split(RS) if record.startswith('{"type":1')]

    def reply(self, text: str) -> str | None:
        return None


class SocketIO:
    """Engine.IO 4 over a WebSocket, Socket.IO 5 on the default namespace; event names are lower case."""

    name = "socketio"
    keepalive: str | None = None  # the server pings ("2"), the client answers ("3")

    async def handshake(self, ws: Socket) -> None:
        opened = await ws.recv(decode=True)
        if not opened.startswith("0{"):
            raise RuntimeError(f"bad Engine.IO open: {opened!r}")
        await ws.send("40")
        while not (reply := await ws.recv(decode=True)).startswith("40"):
            if reply == "2":
                await ws.send("3")

    def call(self, call_id: int, target: str, arguments: list[Any]) -> str:
        return f"42{call_id}" + encode([target.lower(), *arguments]).decode()

    def answers(self, text: str) -> list[Answer]:
        if not text.startswith("43"):
            return []
        start = text.index("[")
        values = decode(text[start:])
        return [(int(text[2:start]), values[0] if values else None, None)]

    def deliveries(self, text: str) -> list[Any]:
        return [decode(text[2:])[1]] if text.startswith('42["receive"') else []

    def reply(self, text: str) -> str | None:
        return "3" if text == "2" else None


DIALECTS: dict[str, SignalR | SocketIO] = {"signalr": SignalR(), "socketio": SocketIO()}
Dialect = SignalR | SocketIO


async def negotiate(url: str, path: str) -> str:
    """``POST path?negotiateVersion=1`` on the server of ``url`` (plain HTTP/1.1); the connection token."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(
            f"POST {path}?negotiateVersion=1 HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        response = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"negotiate: {head[:80]!r}")
    if b"transfer-encoding: chunked" in head.lower():
        body = b"".join(body.split(b"\r\n")[1::2])  # one JSON body: the chunks' data lines
    answer = decode(body)
    return answer.get("connectionToken") or answer["connectionId"]


async def open_socket(dialect: Dialect, url: str, negotiate_path: str | None = None) -> Socket:
    """Connect (after a negotiate when ``negotiate_path``) and do the dialect's handshake, within bounds."""
    async with asyncio.timeout(STEP_TIMEOUT):
        if negotiate_path is not None:
            url += ("&" if "?" in url else "?") + "id=" + await negotiate(url, negotiate_path)
        ws = await connect(url)
        try:
            await dialect.handshake(ws)
        except BaseException:
            await ws.close()
            raise
    return ws


async def call_and_wait(dialect: Dialect, ws: Socket, call_id: int, target: str, args: list[Any]) -> Any:
    """Send a call and read until its answer (answering server pings meanwhile)."""
    await ws.send(dialect.call(call_id, target, args))
    async with asyncio.timeout(STEP_TIMEOUT):
        while True:
            text = await ws.recv(decode=True)
            for answer_id, result, error in dialect.answers(text):
                if answer_id == call_id:
                    if error is not None:
                        raise RuntimeError(f"{target} failed: {error}")
                    return result
            if (pong := dialect.reply(text)) is not None:
                await ws.send(pong)


class Sender:
    """The connection that calls ``Broadcast``; a reader task matches answers to pending calls."""

    def __init__(self, dialect: Dialect, ws: Socket, group: str, pad: str) -> None:
        self.dialect, self.ws, self.group, self.pad = dialect, ws, group, pad
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.errors = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                text = await self.ws.recv(decode=True)
                for call_id, result, error in self.dialect.answers(text):
                    self.errors += error is not None
                    future = self.pending.pop(call_id, None)
                    if future is not None and not future.done():
                        future.set_result(result)
                if (pong := self.dialect.reply(text)) is not None:
                    await self.ws.send(pong)

    async def broadcast(self, sequence: int) -> asyncio.Future[Any]:
        """Send ``Broadcast(group, {"s": sequence, "t": send time})``; the future completes with its answer."""
        call_id = sequence + 1_000_000  # warm-ups are negative
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[call_id] = future
        payload = {"s": sequence, "t": now(), "d": self.pad}
        await self.ws.send(self.dialect.call(call_id, "Broadcast", [self.group, payload]))
        return future

    async def close(self) -> None:
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.ws.close()
