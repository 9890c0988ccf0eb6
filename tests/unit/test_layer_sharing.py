"""realtime's process channel shares channels_redis' per-process receive with the app's own consumers.

channels_redis reads all channels of a process whose names share the part before ``!`` from one Redis list,
under one lock. A process channel with a prefix of its own held that lock in a blocking read of its own
list, so a plain consumer of the same process got its group messages only when that read timed out (5 s).
"""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import channel_layers

from realtime import lifetime, loops, names
from tests.servers import redis_server


@pytest.fixture
def redis_layer(settings):
    with redis_server() as url:
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [{"address": url, "socket_timeout": None}],
                    "channel_capacity": {names.CHANNEL_CAPACITY_PATTERN: 7},
                },
            }
        }
        yield lifetime.layer()
        channel_layers.backends.clear()


async def test_a_plain_consumer_beside_the_process_channel_gets_its_messages_at_once(redis_layer):
    received: list[dict] = []
    lifetime.route("realtime.test", received.append)  # a kind of this test's own
    process_channel = lifetime.ProcessChannel()
    await process_channel.join("hub-group")
    consumer = await redis_layer.new_channel()  # what every Channels consumer of the process does
    await redis_layer.group_add("app-group", consumer)
    try:
        await asyncio.sleep(0.3)  # the process channel's receive loop now blocks in its read
        await redis_layer.group_send("app-group", {"type": "app.event", "n": 1})
        async with asyncio.timeout(2):  # far below channels_redis' 5 s blocking read
            message = await redis_layer.receive(consumer)
        assert message == {"type": "app.event", "n": 1}
        await lifetime.send_to_group("hub-group", {"type": "realtime.test", "n": 2})
        async with asyncio.timeout(2):
            while not received:
                await asyncio.sleep(0.01)
        assert received == [{"type": "realtime.test", "n": 2}]
    finally:
        await loops.close()
        await redis_layer.group_discard("app-group", consumer)


async def test_the_capacity_pattern_singles_out_realtime_channels(redis_layer):
    process_channel = lifetime.ProcessChannel()
    name = await process_channel.start()
    try:
        assert redis_layer.get_capacity(name) == 7
        assert redis_layer.get_capacity(await redis_layer.new_channel()) == redis_layer.capacity
        assert name.split("!")[0] == (await redis_layer.new_channel()).split("!")[0]
    finally:
        await loops.close()
