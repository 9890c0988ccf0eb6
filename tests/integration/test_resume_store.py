"""The durable store of stateful reconnect on a real Redis: ownership, the frames kept, the log, a takeover."""

from __future__ import annotations

import asyncio

import pytest

from realtime.resume_store import RedisResumeStore
from tests.servers import redis_server


@pytest.fixture
def store(settings):
    with redis_server() as url:
        settings.REALTIME = {"REDIS_URL": url, "STATEFUL_RECONNECT_STORE": "realtime.resume_store.RedisResumeStore"}
        yield RedisResumeStore()


async def test_the_owner_writes_what_a_taker_finds(store):
    await store.grant("tok", "A", {"cid": "c1", "hub": "ChatHub", "proto": "messagepack", "uid": "7"})
    kept = await asyncio.gather(*(store.keep("tok", "A", n, bytes([n]) * 3, f"{n}-0", "") for n in range(1, 51)))
    assert all(kept)  # 50 writes of one turn, one pipeline
    assert await store.received("tok", "A", 4, "call-1")
    assert await store.acked("tok", "A", 10, trim_below=6)  # frames 1-5 may go; 6-10 stay a while (dedup)
    assert await store.set("tok", "A", "groups", '{"realtime.grp.x": 1.5}')
    snapshot = await store.take("tok", "A", "B")
    assert snapshot is not None
    assert (snapshot.connection_id, snapshot.user_id, snapshot.protocol) == ("c1", "7", "messagepack")
    assert (snapshot.sent, snapshot.acked, snapshot.received) == (50, 10, 4)
    assert [seq for seq, _, _ in snapshot.frames] == list(range(6, 51))
    assert snapshot.frames[0] == (6, b"\x06\x06\x06", "6-0")  # MessagePack frames come back as bytes
    assert snapshot.groups == {"realtime.grp.x": 1.5} and snapshot.calls == ["call-1"]


async def test_a_process_that_lost_the_connection_is_told_at_its_next_write(store):
    await store.grant("tok", "A", {"cid": "c1", "hub": "H", "proto": "json", "uid": ""})
    assert await store.take("tok", "A", "B") is not None
    assert await store.take("tok", "A", "C") is None  # only one process takes it over
    assert not await store.keep("tok", "A", 1, "late\x1e", "", "")
    assert not await store.received("tok", "A", 1, "")
    assert await store.keep("tok", "B", 1, "new owner\x1e", "", "")


async def test_the_log_keeps_each_send_once_with_its_targets(store):
    first = await store.log("H", ["realtime.grp.a"], ["c9"], {"json": "x\x1e", "messagepack": b"\x01"})
    second = await store.log("H", ["realtime.all.h"], [], {"json": "y\x1e"})
    entries = await store.log_since("H", 0)
    assert [entry.id for entry in entries] == [first, second]
    assert entries[0].groups == ["realtime.grp.a"] and entries[0].exclude == ["c9"]
    assert entries[0].frames == {"json": "x\x1e", "messagepack": b"\x01"}
    assert await store.log_since("H", entries[1].time + 1) == []
