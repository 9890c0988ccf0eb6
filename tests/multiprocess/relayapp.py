"""The conformance server plus ``/relay/<group>``: a plain Channels consumer, as an app keeps beside its hubs.

``daphne tests.multiprocess.relayapp:application`` (or uvicorn). The consumer joins the layer group named in
its URL, sends every JSON message it gets to that group, and writes the group's messages to its socket.
"""

from __future__ import annotations

from typing import Any

# isort: off
from tests.conformance.asgi import application as conformance  # configures Django before what follows
# isort: on

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path


class GroupRelay(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.group = self.scope["url_route"]["kwargs"]["group"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.channel_layer.group_send(self.group, {"type": "relay.message", "content": content})

    async def relay_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["content"])


application = ProtocolTypeRouter(
    {
        "http": conformance.application_mapping["http"],
        "websocket": URLRouter(
            [
                re_path(r"^relay/(?P<group>\w+)$", GroupRelay.as_asgi()),
                re_path(r"", conformance.application_mapping["websocket"]),
            ]
        ),
    }
)
