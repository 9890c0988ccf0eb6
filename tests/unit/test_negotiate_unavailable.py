"""Negotiate answers 503 with a readable body when the connection could not work (in-process, real failures):
no such channel layer, a layer that cannot be built or reached, a registry that cannot be written.

The layer failing under a running server (Redis stopped) is tests/multiprocess/test_faults.py.
"""

from __future__ import annotations

import json

import pytest
from channels.layers import get_channel_layer
from channels.testing import HttpCommunicator
from django.test import override_settings

from realtime import lifetime
from realtime.hubs import Hub
from realtime.routing import hub_routes
from tests.servers import free_port


class PlainHub(Hub):
    async def Echo(self, value):  # noqa: N802
        return value


(NEGOTIATE,), _ = hub_routes({"plain": PlainHub})
PREFIX = "The server cannot take connections now: "


async def negotiate() -> tuple[int, str, bytes | None]:
    communicator = HttpCommunicator(NEGOTIATE.callback, "POST", "/plain/negotiate")
    communicator.scope["query_string"] = b"negotiateVersion=1"
    response = await communicator.get_response(timeout=10)
    await communicator.wait()
    return response["status"], response["body"].decode(), dict(response["headers"]).get(b"content-type")


def closed_redis() -> str:
    """A Redis URL where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


async def test_a_healthy_layer_negotiates():
    status, body, _ = await negotiate()
    assert status == 200
    assert json.loads(body)["connectionToken"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"REALTIME": {"CHANNEL_LAYER": "missing"}},
        {"CHANNEL_LAYERS": {"default": {"BACKEND": "no.such.Layer"}}},
    ],
)
async def test_no_usable_channel_layer_is_503(overrides, caplog):
    with override_settings(**overrides):
        status, body, content_type = await negotiate()
    assert (status, content_type) == (503, b"text/plain")
    assert body == PREFIX + "its channel layer is not configured (see the server log)"
    logged = [r.getMessage() for r in caplog.records if r.name == "realtime.transports.http"]
    assert any("the channel layer is unusable" in line for line in logged), logged


async def test_a_layer_that_cannot_be_reached_is_503():
    pubsub = "channels_redis.pubsub.RedisPubSubChannelLayer"
    with override_settings(CHANNEL_LAYERS={"default": {"BACKEND": pubsub, "CONFIG": {"hosts": [closed_redis()]}}}):
        try:
            status, body, content_type = await negotiate()
        finally:
            await get_channel_layer().flush()
    assert (status, content_type) == (503, b"text/plain")
    assert body == PREFIX + "its channel layer cannot be reached; retry later"


async def test_a_registry_that_cannot_be_written_is_503():
    config = {"REGISTRY_BACKEND": "realtime.registry.RedisRegistry", "REDIS_URL": closed_redis()}
    with override_settings(REALTIME=config):
        status, body, content_type = await negotiate()
    assert (status, content_type) == (503, b"text/plain")
    assert body == PREFIX + "its connection registry cannot be written; retry later"


async def test_negotiate_asks_the_process_channel_whether_the_layer_fails(settings):
    """What the probes know (tests/unit/test_layer_probes.py), negotiate answers: 503 until a later probe arrives."""
    settings.REALTIME = {"LAYER_CHECK_INTERVAL": 0}  # no probe of its own in between: this test plays them
    assert (await negotiate())[0] == 200
    channel = lifetime.process_channel()
    channel.probes.lost()  # what a failed receive or probe send does
    status, body, _ = await negotiate()
    assert (status, body) == (503, PREFIX + "its channel layer is failing; retry later")
    channel.probes.arrived(channel.probes.sent + 1)
    assert (await negotiate())[0] == 200
