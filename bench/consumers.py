"""Raw Channels baselines: the same work as ``BenchHub`` over the same wire bytes, written the usual way.

Each is a plain ``AsyncWebsocketConsumer`` (so each connection gets its own layer channel and Channels'
``await_many_dispatch`` loop, as every Channels app does). They speak just enough of the SignalR JSON
protocol for the bench client to work unchanged: the handshake, ``Invocation`` -> ``Completion``, ``Ping``.
"""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

RS = "\x1e"
HANDSHAKE_RESPONSE = "{}" + RS


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def completion(invocation_id: str, result: Any) -> str:
    return dumps({"type": 3, "invocationId": invocation_id, "result": result}) + RS


class RawProtocolConsumer(AsyncWebsocketConsumer):
    """Split records on 0x1E, answer the handshake, hand each Invocation to ``invoke``, ignore the rest."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        data = text_data if text_data is not None else (bytes_data or b"").decode("utf-8")
        for record in data.split(RS):
            if not record:
                continue
            message = json.loads(record)
            kind = message.get("type")
            if kind is None:  # {"protocol":"json","version":1}
                await self.send(HANDSHAKE_RESPONSE)
            elif kind == 1:
                result = await self.invoke(message["target"], message.get("arguments", []))
                invocation_id = message.get("invocationId")
                if invocation_id is not None:
                    await self.send(completion(invocation_id, result))
            # 6 Ping and everything else: nothing to do

    async def invoke(self, target: str, arguments: list[Any]) -> Any:
        raise NotImplementedError


class RawEchoConsumer(RawProtocolConsumer):
    """``Echo(message)`` returns ``message``."""

    async def invoke(self, target: str, arguments: list[Any]) -> Any:
        if target == "Echo":
            return arguments[0]
        return None


class RawFanoutConsumer(RawEchoConsumer):
    """``Join(group)``: ``group_add``; ``Broadcast(group, payload)``: ``group_send`` of the finished frame.

    The invocation frame is encoded once by the sender (the cheapest raw variant); each member's handler
    only writes it to its socket. That is the standard per-consumer Channels pattern.
    """

    joined: set[str]

    async def connect(self) -> None:
        self.joined = set()
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def invoke(self, target: str, arguments: list[Any]) -> Any:
        if target == "Join":
            await self.channel_layer.group_add(arguments[0], self.channel_name)
            self.joined.add(arguments[0])
            return None
        if target == "Broadcast":
            group, payload = arguments
            frame = dumps({"type": 1, "target": "Receive", "arguments": [payload]}) + RS
            await self.channel_layer.group_send(group, {"type": "bench.receive", "frame": frame})
            return None
        return await super().invoke(target, arguments)

    async def bench_receive(self, event: dict[str, Any]) -> None:
        await self.send(event["frame"])
