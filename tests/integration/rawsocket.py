"""A bare WebSocket client for a hub: raw frames in and out, for byte-exact and malformed-input tests."""

from __future__ import annotations

import json
from typing import Any

from channels.testing import WebsocketCommunicator

from realtime.hubs import Hub
from realtime.routing import hub_endpoint
from realtime.transports.websocket import WebsocketApp

RS = "\x1e"


class RawSocket:
    """One WebSocket to ``hub`` through the real transport, with no hub protocol on the client side."""

    def __init__(self, hub: type[Hub], path: str = "/hub") -> None:
        self.ws = WebsocketCommunicator(WebsocketApp(hub_endpoint(hub)), path)

    async def __aenter__(self) -> RawSocket:
        connected, _ = await self.ws.connect()
        assert connected
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Disconnect (clean close) unless the server already ended the socket, and wait for the app."""
        if not self.ws.future.done():
            await self.ws.disconnect(1000, timeout=5)

    async def handshake(self, protocol: str = "json") -> None:
        await self.send(json.dumps({"protocol": protocol, "version": 1}) + RS)
        reply = await self.receive()
        assert reply.get("text", reply.get("bytes")) in ("{}" + RS, b"{}\x1e"), reply

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            await self.ws.send_to(text_data=data)
        else:
            await self.ws.send_to(bytes_data=data)

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.send(json.dumps(message) + RS)

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        """The next ASGI message the server sent (``websocket.send`` or ``websocket.close``)."""
        return await self.ws.receive_output(timeout)

    async def receive_text(self, timeout: float = 5) -> str:
        message = await self.receive(timeout)
        assert message["type"] == "websocket.send", message
        return message["text"]

    async def receive_json(self, timeout: float = 5, *, skip_pings: bool = True) -> dict[str, Any]:
        while True:
            text = await self.receive_text(timeout)
            assert text.endswith(RS) and text.count(RS) == 1, text
            message = json.loads(text[:-1])
            if not (skip_pings and message == {"type": 6}):
                return message

    async def until_close(self, timeout: float = 5) -> tuple[list[dict[str, Any]], int]:
        """Every frame sent until the server closed the socket, and the close code."""
        frames = []
        while True:
            message = await self.receive(timeout)
            if message["type"] == "websocket.close":
                return frames, message.get("code", 1000)
            frames.append(message)
