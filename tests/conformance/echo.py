"""The raw ``/echo`` endpoint of the conformance server: no hub protocol, every chunk echoed back."""

from __future__ import annotations

from realtime.endpoints import ConnectionHandler


class EchoHandler(ConnectionHandler):
    """Echo every received chunk unchanged."""

    async def receive(self, data: bytes | str) -> None:
        await self.send(data)
