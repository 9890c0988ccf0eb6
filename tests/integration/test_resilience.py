"""What the soak run found (bench/soak.py), in-process: each case fails without its fix.

The end of a connection interrupted by a server that cancels its task; realtime's Redis pool under a
burst. tests/hostile/test_stall.py has the cases that need a real server process.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.testing import WebsocketCommunicator

from realtime import local
from realtime.hubs import Hub
from realtime.registry import Entry, RedisRegistry
from realtime.routing import hub_endpoint
from realtime.testing import HubCommunicator
from realtime.transports.websocket import WebsocketApp
from tests.servers import redis_server

pytestmark = pytest.mark.timeout(60)
RS = "\x1e"


class SlowStopHub(Hub):
    gate: asyncio.Event
    running: asyncio.Event

    async def Linger(self) -> None:  # noqa: N802
        """Runs until cancelled, then takes its time to stop (what delays the end of the connection)."""
        SlowStopHub.running.set()
        try:
            await asyncio.Event().wait()
        finally:
            await SlowStopHub.gate.wait()


async def test_a_server_that_kills_the_app_while_it_ends_a_connection_leaves_nothing_behind():
    """Daphne cancels an app that takes too long to end (application_close_timeout): the end still completes."""
    SlowStopHub.gate, SlowStopHub.running = asyncio.Event(), asyncio.Event()
    socket = WebsocketCommunicator(WebsocketApp(hub_endpoint(SlowStopHub)), "/hub")
    assert (await socket.connect())[0]
    await socket.send_to(text_data='{"protocol":"json","version":1}' + RS)
    assert await socket.receive_from() == "{}" + RS
    await socket.send_to(text_data='{"type":1,"invocationId":"l","target":"Linger","arguments":[]}' + RS)
    await asyncio.wait_for(SlowStopHub.running.wait(), 5)
    table = local.table()
    assert len(table.connections) == 1
    await socket.send_input({"type": "websocket.disconnect", "code": 1000})
    await socket.wait(0.2)  # past it the communicator cancels the app's task, as Daphne does after its timeout
    assert socket.future.cancelled()
    SlowStopHub.gate.set()
    async with asyncio.timeout(5):
        while table.connections or table.members:  # the end goes on in a task of its own
            await asyncio.sleep(0.01)


async def test_realtime_redis_clients_keep_a_bounded_pool_under_a_burst(settings):
    with redis_server() as url:
        settings.REALTIME = {"REDIS_URL": url, "REDIS_MAX_CONNECTIONS": 5}
        registry = RedisRegistry()
        await registry.create("token", Entry(connection_id="c", endpoint="e"))
        found = await asyncio.gather(*(registry.lookup("token") for _ in range(200)))
        assert {entry.connection_id for entry in found} == {"c"}
        clients = await registry._redis().client_list()
        assert len(clients) <= 5 + 1, clients  # the pool, and the connection that asked
        await registry._redis().aclose()


class QuickTimeoutHub(Hub):
    keep_alive_interval = 0.1
    client_timeout = 0.5


async def test_time_the_process_stood_still_does_not_count_as_the_clients_silence():
    async with HubCommunicator(QuickTimeoutHub) as client:
        (connection,) = local.table().connections.values()
        now = time.monotonic()
        connection.last_received = now - 2.0  # silent for 2 s, 4x the client timeout...
        connection.tick(now, stalled=2.0)  # ...all of it while the process stood still
        assert connection.state.value == "connected"
        connection.tick(now + 0.6, stalled=0.0)  # then 0.6 s of real silence: past the client timeout
        closed = await client.receive_message()
        while closed.__class__.__name__ == "PingMessage":
            closed = await client.receive_message()
        assert "Client timeout elapsed" in closed.error
