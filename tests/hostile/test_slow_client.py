"""A client that stops reading while the server keeps sending: server memory stays bounded.

Under uvicorn, writes to a client that does not read wait for the socket; the connection's outbox then
grows to ``MAX_OUTBOUND_BYTES`` and the server closes it. Daphne (Twisted) accepts every write into
its own transport buffer without telling the application, so that bound cannot apply there: the
figure for Daphne is printed for the record (see docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.servers import conformance_server
from tests.signalr_client import RawHubClient

pytestmark = pytest.mark.timeout(180)
MESSAGE = base64.b64encode(os.urandom(7_500)).decode()  # 10 KB, incompressible
SENDS = 2_000  # 20 MB offered to the slow client
CLOSED = "does not keep up"
"""What the server logs when it closes a client that does not read."""


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def flood(server, closes: bool) -> tuple[int, str]:
    """Offer 20 MB to a client that never reads; returns (server RSS growth in KB, how the slow client ended).

    Group messages reach a process through its one layer channel, whose events it hands to the members in
    arrival order: once the sender gets a message it sent to a group of its own after the flood, every
    flood message has reached the slow client's queue. ``closes``: wait for the server's log line that it
    closed the slow client.
    """
    url = server.url.replace("http://", "ws://") + "/chathub"
    # no permessage-deflate: the flood must really cross the socket
    slow = await connect(url, max_queue=1, max_size=None, compression=None)
    await slow.send('{"protocol":"json","version":1}\x1e')
    await slow.recv()
    await slow.send('{"type":1,"invocationId":"j","target":"JoinGroup","arguments":["flood"]}\x1e')
    await slow.recv()
    sender = await RawHubClient.open(url)
    await sender.invoke("JoinGroup", "after the flood")
    start = server.mark()
    before = rss_kb(server.process.pid)
    for _ in range(SENDS):
        await sender.invoke("SendToGroup", "flood", MESSAGE, timeout=30)
    await sender.invoke("SendToGroup", "after the flood", "the end")
    assert (await sender.receive_invocation("ReceiveMessage", timeout=30))[1] == "the end"
    growth = rss_kb(server.process.pid) - before
    assert await sender.invoke("WhoAmI") is None  # the server still serves everyone else
    await sender.close()
    if closes:
        await asyncio.to_thread(server.wait_for_lines, lambda lines: any(CLOSED in line for line in lines), start)
    ended = "closed by the server" if CLOSED in server.output() else "still open"
    slow.transport.abort()
    return growth, ended


async def test_slow_client_memory_is_bounded_under_uvicorn():
    with conformance_server("uvicorn", env={"REALTIME_LOG_LEVEL": "WARNING"}) as server:
        growth, ended = await flood(server, closes=True)
    print(f"\nslow client under uvicorn: 20 MB offered, server RSS grew {growth / 1024:.1f} MB, client {ended}")
    assert ended == "closed by the server"
    assert growth < 12 * 1024, f"server memory grew {growth} KB for a client that does not read"


async def test_slow_client_under_daphne_is_reported():
    with conformance_server("daphne", env={"REALTIME_LOG_LEVEL": "WARNING"}) as server:
        growth, ended = await flood(server, closes=False)
    print(f"\nslow client under daphne: 20 MB offered, server RSS grew {growth / 1024:.1f} MB, client {ended}")
