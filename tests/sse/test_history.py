"""Both SSE history backends behind one interface; the Redis one against a private redis-server."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from realtime.eventstream.history import MemoryHistory, RedisHistory, Replay, StoredEvent

pytestmark = pytest.mark.timeout(60)

SIZE = 4


@pytest.fixture(params=["memory", "redis"])
async def backend(request, settings):
    settings.REALTIME = {"SSE_HISTORY_SIZE": SIZE}
    if request.param == "memory":
        yield MemoryHistory()
        return
    url = request.getfixturevalue("redis_url")
    settings.REALTIME = {"SSE_HISTORY_SIZE": SIZE, "REDIS_URL": url}
    client = redis.asyncio.Redis.from_url(url)
    await client.flushdb()
    await client.aclose()
    store = RedisHistory()
    yield store
    await store.release_loop()


async def test_ids_are_consecutive_and_replay_is_exact(backend):
    assert await backend.since("t", None) == Replay([], 0, True)
    ids = [await backend.append("t", "e" if n % 2 else None, f'"{n}"') for n in range(3)]
    assert ids[1] == ids[0] + 1 and ids[2] == ids[1] + 1
    assert ids[0] > 1_600_000_000_000_000  # an epoch starts at the clock in microseconds
    assert await backend.since("t", None) == Replay([], ids[2], True)
    assert await backend.since("t", ids[0]) == Replay(
        [StoredEvent(ids[1], "e", '"1"'), StoredEvent(ids[2], None, '"2"')], ids[2], True
    )
    assert await backend.since("t", ids[2]) == Replay([], ids[2], True)
    assert await backend.since("t", ids[0] - 1) == Replay(
        [StoredEvent(ids[0], None, '"0"'), *(await backend.since("t", ids[0])).events], ids[2], True
    )
    assert (await backend.since("t", 0)).events[0].id == ids[0]  # 0: from the start, nothing trimmed yet
    assert await backend.since("other", None) == Replay([], 0, True)  # topics are separate


async def test_trimmed_unknown_and_future_ids_are_incomplete(backend):
    ids = [await backend.append("t", None, str(n)) for n in range(SIZE + 3)]
    kept = ids[-SIZE:]
    assert [e.id for e in (await backend.since("t", kept[0] - 1)).events] == kept
    for after in (kept[0] - 2, ids[0], 0, 1, ids[-1] + 1):
        assert await backend.since("t", after) == Replay([], ids[-1], False), after
    assert await backend.since("never-published", 5) == Replay([], 0, False)
    assert await backend.since("never-published", 0) == Replay([], 0, True)


async def test_unicode_and_large_data_round_trip(backend):
    data = '"héllo ✓ 🎉\\n' + "x" * 60_000 + '"'
    first = await backend.append("t", "ünï", data)
    assert (await backend.since("t", first - 1)).events == [StoredEvent(first, "ünï", data)]


async def test_concurrent_appends_get_distinct_consecutive_ids(backend):
    ids = await asyncio.gather(*(backend.append("t", None, str(n)) for n in range(20)))
    assert sorted(ids) == list(range(min(ids), min(ids) + 20))


async def test_expired_history_starts_a_new_higher_epoch(backend, settings):
    old = await backend.append("t", None, "1")
    configured = settings.REALTIME
    settings.REALTIME = {**configured, "SSE_HISTORY_TTL": 0.05}
    if isinstance(backend, RedisHistory):
        await backend.append("t", None, "2")  # sets the 50 ms expiry
    async with asyncio.timeout(10):
        while (await backend.since("t", None)).last_id != 0:  # until the history expired and is forgotten
            await asyncio.sleep(0.01)
    assert await backend.since("t", old) == Replay([], 0, False)
    # The new epoch must outlive the checks below however slow the machine: Redis sets a history's expiry as it
    # appends, the memory backend judges it when asked (so it must still see the old one expired as it appends).
    if isinstance(backend, RedisHistory):
        settings.REALTIME = configured
    new = await backend.append("t", None, "3")
    settings.REALTIME = configured
    assert new > old + 1
    assert await backend.since("t", old) == Replay([], new, False)  # the client must refetch


async def test_two_redis_clients_share_one_sequence(settings, redis_url):
    settings.REALTIME = {"SSE_HISTORY_SIZE": SIZE, "REDIS_URL": redis_url}
    one, two = RedisHistory(), RedisHistory()
    try:
        a = await one.append("shared", None, "a")
        b = await two.append("shared", None, "b")
        assert b == a + 1
        assert [e.data for e in (await one.since("shared", a - 1)).events] == ["a", "b"]
    finally:
        await one.release_loop()
        await two.release_loop()


async def test_redis_history_without_a_url_says_what_to_set(settings):
    settings.REALTIME = {"REDIS_URL": None}
    with pytest.raises(RuntimeError, match="REDIS_URL"):
        await RedisHistory().append("t", None, "1")


async def test_memory_history_forgets_idle_topics_without_new_ones(settings):
    """Expired topics go at the next call of any kind, not only when another new topic is published."""
    settings.REALTIME = {"SSE_HISTORY_SIZE": SIZE, "SSE_HISTORY_TTL": 0.1}
    store = MemoryHistory()
    store.PRUNE_EVERY = 0.0
    for n in range(20):
        await store.append(f"burst-{n}", None, "1")
    await asyncio.sleep(0.2)
    assert await store.since("burst-0", None) == Replay([], 0, True)
    assert store._logs == {}
