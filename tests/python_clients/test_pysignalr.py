"""The unmodified ``pysignalr`` (asyncio) client against the real conformance server, over WebSockets.

``SignalRClient.run()`` connects and then serves forever, reconnecting on its own after a dropped socket; the
only way to stop it is to cancel that task. Every test waits with bounded ``asyncio`` timeouts and also runs
under a hard ``pytest-timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pysignalr.client import SignalRClient
from pysignalr.messages import CompletionMessage
from pysignalr.protocol.json import JSONProtocol
from pysignalr.protocol.messagepack import MessagepackProtocol
from websockets.protocol import State

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0
"""Seconds any single expected event may take."""

PROTOCOLS = {"json": JSONProtocol, "messagepack": MessagepackProtocol}


class Running:
    """A ``SignalRClient`` whose ``run()`` task is up and whose handshake is done."""

    def __init__(self, client: SignalRClient, task: asyncio.Task[None], opens: list[float]) -> None:
        self.client = client
        self.task = task
        self.opens = opens

    async def stop(self) -> None:
        """Cancel ``run()`` (pysignalr's only way to stop) and wait, bounded, for the task to end."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, WAIT)


@contextlib.asynccontextmanager
async def running(url: str, protocol: str = "json") -> AsyncIterator[Running]:
    """Start ``SignalRClient(url).run()`` and wait for the open callback; stop it afterwards."""
    client = SignalRClient(url, protocol=PROTOCOLS[protocol]())
    opened = asyncio.Event()
    opens: list[float] = []

    async def on_open() -> None:
        opens.append(time.monotonic())
        opened.set()

    client.on_open(on_open)
    task = asyncio.create_task(client.run())
    handle = Running(client, task, opens)
    try:
        waiter = asyncio.create_task(opened.wait())
        await asyncio.wait({waiter, task}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # raises what run() failed with
        assert opened.is_set(), "the connection did not open"
        yield handle
    finally:
        await handle.stop()


async def invoke(client: SignalRClient, method: str, *args: Any) -> Any:
    """Invoke ``method`` and wait for its completion's result."""
    completion: asyncio.Future[CompletionMessage] = asyncio.get_running_loop().create_future()

    async def on_completion(message: CompletionMessage) -> None:
        completion.set_result(message)

    await client.send(method, list(args), on_invocation=on_completion)
    message = await asyncio.wait_for(completion, WAIT)
    assert message.error is None, message.error
    return message.result


async def collect_stream(client: SignalRClient, method: str, *args: Any) -> list[Any]:
    """Run a server-to-client stream to its end and return its items."""
    items: list[Any] = []
    completion: asyncio.Future[CompletionMessage] = asyncio.get_running_loop().create_future()

    async def on_next(item: Any) -> None:
        items.append(item)

    async def on_end(message: CompletionMessage) -> None:
        completion.set_result(message)

    await client.stream(method, list(args), on_next=on_next, on_complete=on_end, on_error=on_end)
    message = await asyncio.wait_for(completion, WAIT)
    assert message.error is None, message.error
    return items


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
async def test_echo(server, protocol):
    async with running(f"{server.url}/testhub", protocol) as hub:
        assert await invoke(hub.client, "Echo", "hello from pysignalr") == "hello from pysignalr"
        assert await invoke(hub.client, "Echo", {"nested": [1, 2.5, None, True]}) == {"nested": [1, 2.5, None, True]}
        assert await invoke(hub.client, "GetActiveTransportName") == "WebSockets"


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
async def test_server_streams(server, protocol):
    async with running(f"{server.url}/testhub", protocol) as hub:
        assert await collect_stream(hub.client, "Stream") == ["a", "b", "c"]
    async with running(f"{server.url}/chathub", protocol) as chat:
        assert await collect_stream(chat.client, "Counter", 5, 10) == [0, 1, 2, 3, 4]


def matching(pattern: str, lines: list[str]) -> list[str]:
    """The lines that match ``pattern``."""
    return [line for line in lines if re.search(pattern, line)]


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
async def test_clean_stop_without_reconnect(server, protocol):
    tag = uuid.uuid4().hex
    start = server.mark()
    async with running(f"{server.url}/chathub?client={tag}", protocol) as chat:
        assert await invoke(chat.client, "WhoAmI") is None
        # pysignalr keeps its websockets connection private; we only read it to check the close handshake
        socket = chat.client._transport._ws
        port = socket.local_address[1]
        await chat.stop()
        assert chat.task.cancelled()  # run() is over: nothing is left in the client that could reconnect

        # The WebSocket closing handshake completes, and the server answers it. pysignalr has no stop API: the
        # socket is closed when its connect-retry async generator is finalized after the cancellation, i.e.
        # a moment after run() ended, and websockets then sends 1011 (it closes with INTERNAL_ERROR whenever
        # its context manager exits by an exception, here GeneratorExit). Both are client-side choices.
        await asyncio.wait_for(socket.wait_closed(), WAIT)
        assert socket.state is State.CLOSED
        assert socket.protocol.close_sent is not None
        assert socket.protocol.close_sent.code in (1000, 1011)
        assert socket.protocol.close_rcvd is not None, "the server did not answer the close frame"
        # the server saw this very socket go away (Daphne's access log)
        disconnected = rf":{port} .*\"WSDISCONNECT /chathub\""
        lines = await asyncio.to_thread(server.wait_for_lines, lambda lines: matching(disconnected, lines), start, WAIT)
        assert len(matching(disconnected, lines)) == 1, "".join(lines)

        # and nothing came back: one negotiate, one WebSocket, one open for this client
        assert len(matching(rf"\"POST /chathub/negotiate\?client={tag}\"", lines)) == 1, "".join(lines)
        assert len(matching(rf":{port} .*\"WSCONNECT /chathub\"", lines)) == 1, "".join(lines)
        assert len(chat.opens) == 1
