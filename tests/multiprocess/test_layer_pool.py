"""Bursts beyond the channel layer's connection pool: redis-py 8 caps a pool at 100 connections by default and
raises ``MaxConnectionsError`` past it, so layer calls made at once must wait for a connection, not fail."""

from __future__ import annotations

import asyncio

import pytest

from tests.servers import conformance_server, redis_server
from tests.signalr_client import RawHubClient

pytestmark = pytest.mark.timeout(180)

CLIENTS = 300
"""Three times redis-py 8's default pool size."""


@pytest.mark.parametrize("layer", ["core", "pubsub"])
async def test_a_burst_of_connects_joins_and_group_sends_all_succeed(layer: str) -> None:
    with (
        redis_server() as redis_url,
        conformance_server("uvicorn", env={"REDIS_URL": redis_url, "CHANNEL_LAYER": layer}) as server,
    ):
        url = server.url.replace("http://", "ws://") + "/chathub"
        try:
            await burst(url)
        except Exception as exc:
            raise AssertionError(f"the burst failed ({exc!r}); server log:\n{server.output()[-3000:]}") from exc
        assert "Too many connections" not in server.output(), server.output()[-3000:]


async def burst(url: str) -> None:
    """``CLIENTS`` connections at once, each joining a group of its own at once, then each sending to it at once."""
    clients = await asyncio.gather(*(RawHubClient.open(url) for _ in range(CLIENTS)))
    try:
        await asyncio.gather(*(client.invoke("JoinGroup", f"g{n}") for n, client in enumerate(clients)))
        await asyncio.gather(*(client.invoke("SendToGroup", f"g{n}", str(n)) for n, client in enumerate(clients)))
        got = await asyncio.gather(*(client.receive_invocation("ReceiveMessage", 30) for client in clients))
        assert [arguments[1] for arguments in got] == [str(n) for n in range(CLIENTS)]
    finally:
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
