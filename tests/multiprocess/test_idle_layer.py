"""Idle layer consumers outlive a blocking read with the layer configurations docs/deployment.md gives.

channels_redis' core layer waits for messages in a 5 s blocking read (``BZPOPMIN``), and redis-py 8's default
``socket_timeout`` is 5 s as well: unless the host sets ``socket_timeout``, an idle consumer's read times out
first and the consumer dies (Daphne closes its socket with 1011, uvicorn without a close frame), and
realtime's process channel fails and retries (django/channels_redis #422). The servers here run the
documented configurations (``tests/conformance/settings.py``): the core layer with ``"socket_timeout": None``
and the pub/sub layer, which needs nothing. Layer probes are off (``LAYER_CHECK_INTERVAL=0``): a probe every
second would end each process's shared blocking read early and hide the problem.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from channels_redis.core import RedisChannelLayer
from websockets.asyncio.client import connect

from tests.servers import conformance_server, redis_server
from tests.signalr_client import RawHubClient

pytestmark = pytest.mark.timeout(120)

APP = "tests.multiprocess.relayapp:application"
IDLE = RedisChannelLayer.brpop_timeout + 2
"""Seconds without a message: longer than one blocking read of the layer and than redis-py 8's timeout."""


@pytest.fixture(params=["core", "pubsub"])
def servers(request):
    """A daphne and a uvicorn process on one private Redis, each serving the relay and the hubs."""
    with redis_server() as url:
        env = {"REDIS_URL": url, "CHANNEL_LAYER": request.param, "LAYER_CHECK_INTERVAL": "0"}
        with (
            conformance_server("daphne", env=env, app=APP) as first,
            conformance_server("uvicorn", env=env, app=APP) as second,
        ):
            yield first, second


def ws(server, path: str) -> str:
    return server.url.replace("http://", "ws://") + "/" + path


async def nothing_for(seconds: float, receive) -> None:
    """``receive`` neither returns nor fails (a closed socket raises) for ``seconds``."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            await receive()


async def test_idle_consumers_survive_longer_than_a_blocking_read(servers):
    relays = [await connect(ws(server, "relay/room"), open_timeout=10) for server in servers]
    hubs = [await RawHubClient.open(ws(server, "chathub")) for server in servers]
    try:
        for hub in hubs:
            assert await hub.invoke("JoinGroup", "room") is None
        await asyncio.gather(
            *(nothing_for(IDLE, relay.recv) for relay in relays),
            *(nothing_for(IDLE, hub.receive_close) for hub in hubs),
        )
        # after the idle time, group messages still cross both processes, for plain consumers and hubs
        await relays[1].send(json.dumps({"n": 1}))
        for relay in relays:
            assert json.loads(await asyncio.wait_for(relay.recv(), 10)) == {"n": 1}
        assert await hubs[0].invoke("SendToGroup", "room", "after idle") is None
        for hub in hubs:
            assert (await hub.receive_invocation("ReceiveMessage"))[1] == "after idle"
        for server in servers:
            assert "layer failed" not in server.output()
    finally:
        for hub in hubs:
            await hub.close()
        for relay in relays:
            await relay.close()
