"""Test kit: drive a hub in-process over the real wire protocol, like Channels' ``WebsocketCommunicator``.

Example::

    async def test_echo():
        async with HubCommunicator(ChatHub) as client:
            assert await client.invoke("Echo", "hi") == "hi"
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from channels.testing import WebsocketCommunicator

from .exceptions import HubError
from .hubs import Hub
from .protocol import handshake
from .protocol.base import HubProtocol
from .protocol.json import JsonHubProtocol
from .protocol.messages import (
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    HubMessage,
    InvocationMessage,
    PingMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)
from .protocol.msgpack import MessagePackHubProtocol
from .routing import hub_endpoint
from .transports.websocket import WebsocketApp


class HubCommunicator:
    """One client connection to ``hub``, run in-process through the real WebSocket transport.

    Args:
        hub: the hub class.
        path: the request path (with an optional query string).
        protocol: ``"json"`` or ``"messagepack"``.
        user: a user to put in ``scope["user"]`` (``force_user``), as an auth middleware would.
        headers: extra request headers as ``(bytes, bytes)`` pairs.
    """

    def __init__(
        self,
        hub: type[Hub],
        path: str = "/hub",
        *,
        protocol: str = "json",
        user: Any = None,
        headers: Iterable[tuple[bytes, bytes]] | None = None,
    ) -> None:
        app: Any = WebsocketApp(hub_endpoint(hub))
        if user is not None:
            inner = app

            async def app(scope: Any, receive: Any, send: Any) -> None:
                await inner({**scope, "user": user}, receive, send)

        self.protocol: HubProtocol = (
            MessagePackHubProtocol(max_message_size=None)
            if protocol == "messagepack"
            else JsonHubProtocol(max_message_size=None)
        )
        self._socket = WebsocketCommunicator(app, path, headers=list(headers or []))
        self._decoder = self.protocol.decoder()
        self._inbox: deque[HubMessage] = deque()
        self._ids = itertools.count()
        self.handlers: dict[str, Callable[..., Any]] = {}
        self.closed: CloseMessage | None = None

    async def __aenter__(self) -> HubCommunicator:
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.disconnect()

    async def connect(self, timeout: float = 5) -> None:
        """Open the socket and complete the handshake; raises ``HubError`` if the server refuses it."""
        connected, code = await self._socket.connect(timeout)
        if not connected:
            raise ConnectionError(f"WebSocket refused (close code {code})")
        request = f'{{"protocol":"{self.protocol.name}","version":1}}{handshake.RECORD_SEPARATOR}'
        await self._socket.send_to(text_data=request)
        output = await self._socket.receive_output(timeout)
        raw = output.get("bytes") or output.get("text", "").encode()
        response, rest = raw.split(b"\x1e", 1)
        if response != b"{}":
            raise HubError(response.decode())
        if rest:
            self._inbox.extend(self._decoder.feed(rest))

    async def disconnect(self, code: int = 1000, timeout: float = 5) -> None:
        """Close the socket (a clean close for 1000) and wait for the server side to finish."""
        await self._socket.disconnect(code, timeout)

    # -- sending ---------------------------------------------------------------------------------

    async def send_message(self, message: HubMessage) -> None:
        """Write one hub message as its own frame."""
        await self.send_raw(self.protocol.write(message))

    async def send_raw(self, data: str | bytes) -> None:
        """Write raw bytes or text as one frame (for malformed-input tests)."""
        if isinstance(data, str):
            await self._socket.send_to(text_data=data)
        else:
            await self._socket.send_to(bytes_data=data)

    def _next_id(self) -> str:
        return str(next(self._ids))

    async def invoke(self, target: str, *args: Any, timeout: float = 5) -> Any:
        """Call ``target`` and return its result; raises ``HubError`` with the Completion's error text."""
        completion = await self.invoke_completion(target, *args, timeout=timeout)
        if completion.error is not None:
            raise HubError(completion.error)
        return completion.result

    async def invoke_completion(self, target: str, *args: Any, timeout: float = 5) -> CompletionMessage:
        """Call ``target`` and return its raw Completion message."""
        invocation_id = self._next_id()
        await self.send_message(InvocationMessage(target=target, arguments=list(args), invocation_id=invocation_id))
        return await self._completion(invocation_id, timeout)

    async def send(self, target: str, *args: Any) -> None:
        """Call ``target`` without waiting for (or getting) any reply."""
        await self.send_message(InvocationMessage(target=target, arguments=list(args)))

    async def stream(self, target: str, *args: Any, timeout: float = 5) -> list[Any]:
        """Run a server stream to its end and return its items; raises ``HubError`` on a stream error."""
        return [item async for item in self.stream_iter(target, *args, timeout=timeout)]

    async def stream_iter(self, target: str, *args: Any, timeout: float = 5) -> AsyncIterator[Any]:
        """Iterate a server stream; leaving the loop early sends a CancelInvocation."""
        invocation_id = self._next_id()
        await self.send_message(
            StreamInvocationMessage(invocation_id=invocation_id, target=target, arguments=list(args))
        )
        finished = False
        try:
            while True:
                message = await self._take(
                    lambda m: isinstance(m, StreamItemMessage | CompletionMessage) and m.invocation_id == invocation_id,
                    timeout,
                )
                if isinstance(message, CompletionMessage):
                    finished = True
                    if message.error is not None:
                        raise HubError(message.error)
                    return
                yield message.item
        finally:
            if not finished:
                await self.send_message(CancelInvocationMessage(invocation_id=invocation_id))

    async def upload(self, target: str, *args: Any, streams: Iterable[Iterable[Any]], timeout: float = 5) -> Any:
        """Call ``target`` with client-to-server streams (one iterable of items per stream parameter)."""
        sources = [list(items) for items in streams]
        stream_ids = [self._next_id() for _ in sources]
        invocation_id = self._next_id()
        await self.send_message(
            InvocationMessage(target=target, arguments=list(args), invocation_id=invocation_id, stream_ids=stream_ids)
        )
        for stream_id, items in zip(stream_ids, sources, strict=True):
            for item in items:
                await self.send_message(StreamItemMessage(invocation_id=stream_id, item=item))
            await self.send_message(CompletionMessage.void(stream_id))
        completion = await self._completion(invocation_id, timeout)
        if completion.error is not None:
            raise HubError(completion.error)
        return completion.result

    # -- receiving -------------------------------------------------------------------------------

    def on(self, target: str, handler: Callable[..., Any]) -> None:
        """Answer server invocations of ``target`` (client results) with ``handler(*args)``."""
        self.handlers[target.lower()] = handler

    async def receive_invocation(self, target: str | None = None, timeout: float = 5) -> InvocationMessage:
        """The next server-to-client invocation (of ``target``, if given)."""
        return await self._take(
            lambda m: isinstance(m, InvocationMessage) and (target is None or m.target == target), timeout
        )

    async def receive_message(self, timeout: float = 5) -> HubMessage:
        """The next message of any kind (Pings included)."""
        return await self._take(lambda m: True, timeout, skip_pings=False)

    async def receive_nothing(self, timeout: float = 0.1) -> bool:
        """``True`` if no message (but Pings) arrives within ``timeout``."""
        try:
            await self._take(lambda m: True, timeout)
        except TimeoutError:
            return True
        return False

    async def _completion(self, invocation_id: str, timeout: float) -> CompletionMessage:
        return await self._take(
            lambda m: isinstance(m, CompletionMessage) and m.invocation_id == invocation_id, timeout
        )

    async def _take(self, wanted: Callable[[HubMessage], bool], timeout: float, *, skip_pings: bool = True) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                for message in list(self._inbox):
                    if wanted(message) and not (skip_pings and isinstance(message, PingMessage)):
                        self._inbox.remove(message)
                        return message
                await self._read()

    async def _read(self) -> None:
        output = await self._socket.receive_output(None)
        if output["type"] == "websocket.close":
            raise ConnectionError(f"server closed the WebSocket with code {output.get('code')}")
        data = output.get("bytes") if output.get("bytes") is not None else output.get("text", "")
        for message in self._decoder.feed(data):
            if isinstance(message, CloseMessage):
                self.closed = message
            if isinstance(message, InvocationMessage) and message.invocation_id is not None:
                await self._answer(message)
            else:
                self._inbox.append(message)

    async def _answer(self, message: InvocationMessage) -> None:
        assert message.invocation_id is not None
        handler = self.handlers.get(message.target.lower())
        if handler is None:
            reply = CompletionMessage.with_error(message.invocation_id, "Client didn't provide a result.")
        else:
            try:
                value = handler(*message.arguments)
                if asyncio.iscoroutine(value):
                    value = await value
                reply = CompletionMessage.with_result(message.invocation_id, value)
            except Exception as exc:
                reply = CompletionMessage.with_error(message.invocation_id, f"Error: {exc}")
        await self.send_message(reply)
