"""A server process that stands still, and streams dropped as they start, on real daphne and uvicorn processes.

What the soak run (bench/soak.py) found: a process stopped for longer than the client timeout closed every
connection whose pings were still waiting to be read; a server stream whose connection ended as it started
left a pending task behind and never ran its cleanup.
"""

from __future__ import annotations

import asyncio
import json
import signal

import pytest
from websockets.asyncio.client import connect

from tests.servers import conformance_server
from tests.signalr_client import RawHubClient

pytestmark = pytest.mark.timeout(120)
SERVERS = pytest.mark.parametrize("server_kind", ["daphne", "uvicorn"])
APP = "tests.hostile.app:application"
RS = "\x1e"


@SERVERS
async def test_a_process_stopped_longer_than_the_client_timeout_keeps_its_clients(server_kind):
    with conformance_server(server_kind, app=APP) as server:
        url = server.url.replace("http://", "ws://") + "/boundshub"
        client = await RawHubClient.open(url)
        assert await client.invoke("Echo", "before") == "before"
        server.process.send_signal(signal.SIGSTOP)  # the whole process stands still, as when paused or swapped
        try:
            for _ in range(10):  # 5 s of pings, every half second: more than the hub's 3 s client timeout
                await client.socket.send(json.dumps({"type": 6}) + RS)
                await asyncio.sleep(0.5)
        finally:
            server.process.send_signal(signal.SIGCONT)
        assert await client.invoke("Echo", "after", timeout=10) == "after"
        assert not [m for m in client.inbox if m.get("type") == 7], client.inbox
        await client.close()


@SERVERS
async def test_streams_dropped_as_they_start_run_their_cleanup(server_kind):
    with conformance_server(server_kind, app=APP) as server:
        url = server.url.replace("http://", "ws://") + "/boundshub"
        for _ in range(100):
            socket = await connect(url, compression=None)
            await socket.send('{"protocol":"json","version":1}' + RS)
            assert await asyncio.wait_for(socket.recv(), 10) == "{}" + RS
            await socket.send('{"type":4,"invocationId":"s","target":"Forever","arguments":[]}' + RS)
            socket.transport.abort()  # gone as the stream starts
        watcher = await RawHubClient.open(url)
        started, ended = await watcher.invoke("Streams")
        async with asyncio.timeout(30):
            while ended < started:  # the server ends the dropped connections as it reads their aborts
                await asyncio.sleep(0.05)
                started, ended = await watcher.invoke("Streams")
        await watcher.close()
        log = server.output()
    assert "was destroyed but it is pending" not in log and "already running" not in log, log[-3000:]
