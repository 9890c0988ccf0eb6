"""The conformance ``/sse/{topic}`` routes across two server processes (daphne + uvicorn) sharing a private
Redis: live delivery, reconnecting to the other process with replay, and concurrent publishers."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.sse.client import open_stream, publish
from tests.sse.conftest import CONFORMANCE_APP, sse_server

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module", params=["core", "pubsub"])
def servers(request, redis_url, tmp_path_factory):
    """A daphne and a uvicorn process of the conformance server, one Redis, one database, per layer."""
    database = tmp_path_factory.mktemp("sse-shared") / "db.sqlite3"
    env = {
        "REDIS_URL": redis_url.replace("/0", f"/{1 if request.param == 'core' else 2}"),
        "CHANNEL_LAYER": request.param,
        "CONFORMANCE_DB": str(database),
        "SSE_HEARTBEAT_INTERVAL": "1",
    }
    with (
        sse_server("daphne", env, app=CONFORMANCE_APP) as first,
        sse_server("uvicorn", env, app=CONFORMANCE_APP) as second,
    ):
        yield first, second


async def test_events_published_on_one_process_reach_streams_on_both(servers):
    first, second = servers
    async with open_stream(f"{first.url}/sse/cross") as on_first, open_stream(f"{second.url}/sse/cross") as on_second:
        await on_first.comment(), await on_second.comment()  # both are subscribed
        ids = [await publish(first.url, "cross", "from 1", "a"), await publish(second.url, "cross", "from 2")]
        for stream in (on_first, on_second):
            got = await stream.events(2)
            assert [(e.event, e.id, json.loads(e.data)) for e in got] == [
                ("a", ids[0], "from 1"),
                ("message", ids[1], "from 2"),
            ]


async def test_reconnect_to_the_other_process_replays_what_was_missed(servers):
    first, second = servers
    async with open_stream(f"{first.url}/sse/resume") as stream:
        await stream.comment()
        seen = [await publish(first.url, "resume", n) for n in (1, 2)]
        assert [e.id for e in await stream.events(2)] == seen
        last = stream.last_id
    # the client is gone; events keep coming, from both processes
    missed = [await publish(second.url, "resume", 3), await publish(first.url, "resume", 4, "x")]
    async with open_stream(f"{second.url}/sse/resume", {"Last-Event-ID": last}) as stream:
        replayed = await stream.events(2)
        assert [(e.id, e.event, json.loads(e.data)) for e in replayed] == [
            (missed[0], "message", 3),
            (missed[1], "x", 4),
        ]
        live = await publish(first.url, "resume", 5)
        assert (await stream.next()).id == live
        assert stream.idle() == []
    async with open_stream(f"{first.url}/sse/resume?lastEventId={missed[0]}") as stream:
        assert [e.id for e in await stream.events(2)] == [missed[1], live]


async def test_concurrent_publishers_on_both_processes(servers):
    """Every stream gets every event once, in id order, whichever process published it."""
    first, second = servers
    count = 40
    async with open_stream(f"{first.url}/sse/busy") as one, open_stream(f"{second.url}/sse/busy") as two:
        await one.comment(), await two.comment()

        async def burst(base: str, tag: str) -> list[str]:
            return [await publish(base, "busy", f"{tag}{n}") for n in range(count)]

        sent_first, sent_second = await asyncio.gather(burst(first.url, "a"), burst(second.url, "b"))
        expected = sorted(sent_first + sent_second, key=int)
        assert [int(i) for i in expected] == list(range(int(expected[0]), int(expected[0]) + 2 * count))
        for stream in (one, two):
            got = await stream.events(2 * count)
            assert [e.id for e in got] == expected
            await asyncio.sleep(0.3)
            assert stream.idle() == []
