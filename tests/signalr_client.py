"""A minimal raw SignalR JSON client over ``websockets``, for tests that need wire-level control."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

RS = "\x1e"
T = TypeVar("T")


class RawHubClient:
    """Connects (skipNegotiation), handshakes, invokes, and collects server invocations."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count()
        self.inbox: list[dict[str, Any]] = []
        self.handlers: dict[str, Any] = {}
        self._pinging: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, *, ping_every: float | None = None) -> RawHubClient:
        """Open ``ws://...`` ``url`` and complete a JSON handshake. With ``ping_every``, send a Ping that often, as
        the official clients do, so a server with a short client timeout keeps a client that is only listening."""
        socket = await connect(url, open_timeout=10)
        await socket.send(json.dumps({"protocol": "json", "version": 1}) + RS)
        reply = await asyncio.wait_for(socket.recv(), 10)
        assert reply.startswith("{}" + RS), reply
        client = cls(socket)
        client._feed(reply[3:])
        if ping_every is not None:
            client._pinging = asyncio.create_task(client._ping(ping_every))
        return client

    async def _ping(self, every: float) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self.socket.send(json.dumps({"type": 6}) + RS)
                await asyncio.sleep(every)  # a client's keep-alive interval, not a wait for a state

    def _feed(self, data: str | bytes) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        self.inbox.extend(json.loads(part) for part in text.split(RS) if part)

    async def _next(self, wanted: Any, timeout: float) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for message in self.inbox:
                    if wanted(message):
                        self.inbox.remove(message)
                        return message
                self._feed(await self.socket.recv())
                await self._answer_client_results()

    async def _answer_client_results(self) -> None:
        for message in [m for m in self.inbox if m.get("type") == 1 and "invocationId" in m]:
            self.inbox.remove(message)
            handler = self.handlers.get(message["target"])
            reply = {"type": 3, "invocationId": message["invocationId"]}
            if handler is None:
                reply["error"] = "Client didn't provide a result."
            else:
                reply["result"] = handler(*message["arguments"])
            await self.socket.send(json.dumps(reply) + RS)

    async def invoke(self, target: str, *args: Any, timeout: float = 10) -> Any:
        """Invoke and return the result; raises ``RuntimeError`` with the Completion's error."""
        invocation_id = str(next(self.ids))
        await self.socket.send(
            json.dumps({"type": 1, "invocationId": invocation_id, "target": target, "arguments": list(args)}) + RS
        )
        completion = await self._next(lambda m: m.get("type") == 3 and m.get("invocationId") == invocation_id, timeout)
        if "error" in completion:
            raise RuntimeError(completion["error"])
        return completion.get("result")

    async def receive_invocation(self, target: str, timeout: float = 10) -> list[Any]:
        """The arguments of the next server invocation of ``target``."""
        message = await self._next(lambda m: m.get("type") == 1 and m.get("target") == target, timeout)
        return message["arguments"]

    async def receive_close(self, timeout: float = 10) -> dict[str, Any]:
        """The Close message the server sends, skipping everything before it."""
        return await self._next(lambda m: m.get("type") == 7, timeout)

    async def serve(self, duration: float) -> None:
        """Read for ``duration`` seconds, answering client results."""
        with contextlib.suppress(TimeoutError):
            await self._next(lambda m: False, duration)

    async def serve_until(self, awaitable: Awaitable[T], timeout: float = 10) -> T:
        """Answer client results while ``awaitable`` runs; its result. Raises what ended the reading first
        (``TimeoutError`` after ``timeout`` seconds, or the connection's end)."""
        pending = asyncio.ensure_future(awaitable)
        reading = asyncio.ensure_future(self._next(lambda m: False, timeout))
        try:
            await asyncio.wait({pending, reading}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reading.cancel()
        if not pending.done():
            pending.cancel()
            await reading
        await asyncio.gather(reading, return_exceptions=True)
        return pending.result()

    async def close(self) -> None:
        """Send a Close message and close the socket cleanly; a connection the server ended already (a client
        that stayed silent longer than the server's client timeout, say) is left as it is."""
        if self._pinging is not None:
            self._pinging.cancel()
        with contextlib.suppress(ConnectionClosed):
            await self.socket.send(json.dumps({"type": 7}) + RS)
        await self.socket.close()
