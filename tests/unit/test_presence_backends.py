"""Both presence backends behind one interface; the Redis one against a private redis-server."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis.asyncio

from realtime.presence.base import GROUP, HUB, USER, PresenceEntry, PresenceError, PresenceScope, normalize_metadata
from realtime.presence.memory import MemoryPresence
from realtime.presence.redis import RedisPresence
from tests.servers import redis_server

pytestmark = pytest.mark.timeout(60)

HUBNAME = "tests.unit.PresenceHub"
ROOM = PresenceScope(HUBNAME, GROUP, "room")
HALL = PresenceScope(HUBNAME, GROUP, "hall")
ALL = PresenceScope(HUBNAME, HUB, "")


def entry(connection_id: str, user: str | None = None, **metadata) -> PresenceEntry:
    return PresenceEntry(connection_id, user, 1_700_000_000.5, metadata)


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


@pytest.fixture
async def raw(redis_url):
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def backend(request, settings, redis_url):
    if request.param == "memory":
        yield MemoryPresence()
        return
    settings.REALTIME = {"REDIS_URL": redis_url}
    store = RedisPresence()
    async with store.session():
        await _flush(redis_url)
        yield store


async def _flush(url: str) -> None:
    client = redis.asyncio.Redis.from_url(url)
    await client.flushdb()
    await client.aclose()


async def test_join_list_count_leave(backend):
    assert await backend.join("p1", "a", [(ROOM, entry("a", "u1", nick="A")), (ALL, entry("a", "u1"))], 10) == [
        True,
        True,
    ]
    assert await backend.join("p1", "b", [(ROOM, entry("b"))], 10) == [True]
    assert await backend.join("p1", "a", [(ROOM, entry("a", "u1", nick="A2"))], 10) == [False]  # overwrite
    assert sorted(await backend.connection_ids(ROOM)) == ["a", "b"]
    assert await backend.count(ROOM) == 2
    members = {e.connection_id: e for e in await backend.members(ROOM)}
    assert members["a"] == PresenceEntry("a", "u1", 1_700_000_000.5, {"nick": "A2"})
    assert members["b"].user_id is None
    assert await backend.names(HUBNAME, GROUP) == {"room": 2}
    assert await backend.leave("p1", "a", [ROOM, HALL]) == [True, False]
    assert await backend.leave("p1", "a", [ROOM]) == [False]
    assert await backend.connection_ids(ROOM) == ["b"]
    assert await backend.count(ALL) == 1


async def test_contains_answers_for_one_connection(backend):
    await backend.join("p1", "c1", [(ALL, entry("c1")), (ROOM, entry("c1"))], ttl=60)
    assert await backend.contains(ALL, "c1")
    assert await backend.contains(ROOM, "c1")
    assert not await backend.contains(HALL, "c1")
    assert not await backend.contains(ALL, "c2")
    await backend.join("p1", "c2", [(ALL, entry("c2"))], ttl=-1)  # already expired
    assert not await backend.contains(ALL, "c2")


async def test_unknown_scopes_are_empty(backend):
    nowhere = PresenceScope(HUBNAME, GROUP, "no such group")
    assert await backend.members(nowhere) == []
    assert await backend.connection_ids(nowhere) == []
    assert await backend.count(nowhere) == 0
    assert await backend.names("no.such.Hub", GROUP) == {}
    assert await backend.leave("p1", "x", [nowhere]) == [False]


async def test_expired_entries_are_not_listed_and_refresh_keeps_them(backend):
    # Margins of seconds, not tenths, so a loaded machine keeps to the plan: b lives 2 s, a is refreshed at once to 10.
    joined = time.monotonic()
    await backend.join("p1", "a", [(ROOM, entry("a"))], 2.0)
    await backend.join("p1", "b", [(ROOM, entry("b"))], 2.0)
    assert await backend.refresh("p1", [(ROOM, "a"), (ROOM, "gone")], 10.0) == [1]
    await asyncio.sleep(joined + 2.1 - time.monotonic())  # b's expiry is the passing of time itself
    assert await backend.connection_ids(ROOM) == ["a"]
    assert await backend.count(ROOM) == 1
    assert [e.connection_id for e in await backend.members(ROOM)] == ["a"]
    assert await backend.names(HUBNAME, GROUP) == {"room": 1}


async def test_sweep_returns_dead_entries_once(backend):
    # 1 s to live: long enough that a loaded machine still sweeps before it ends, short for the suite; the expiry
    # is the passing of time itself, so the test waits it out.
    await backend.join(
        "dead", "a", [(ROOM, entry("a", "u1")), (PresenceScope(HUBNAME, USER, "u1"), entry("a", "u1"))], 1.0
    )
    await backend.join("dead", "b", [(ROOM, entry("b")), (HALL, entry("b"))], 1.0)
    await backend.join("alive", "c", [(ROOM, entry("c"))], 30)
    assert await backend.sweep("alive") == []
    await asyncio.sleep(1.1)
    first, second = await asyncio.gather(backend.sweep("alive"), backend.sweep("other"))
    swept = sorted((scope.name, e.connection_id) for scope, e in first + second)
    assert swept == [("hall", "b"), ("room", "a"), ("room", "b"), ("u1", "a")]
    assert await backend.sweep("alive") == []
    assert await backend.connection_ids(ROOM) == ["c"]
    assert await backend.names(HUBNAME, GROUP) == {"room": 1}
    assert [e for scope, e in first + second if e.connection_id == "a"][0].user_id == "u1"


async def test_a_beating_process_keeps_its_entries_through_sweeps(backend):
    await backend.join("p1", "a", [(ROOM, entry("a"))], 30, liveness=30)
    assert await backend.alive("p1", 30) is False  # it was alive (and memory has no one to give up for dead)
    assert await backend.sweep("p2") == []
    assert await backend.sweep("p1") == []
    assert await backend.connection_ids(ROOM) == ["a"]


async def test_missing_entries_are_reported_for_rewriting(backend):
    await backend.join("p1", "a", [(ROOM, entry("a")), (HALL, entry("a"))], 10)
    await backend.leave("p1", "a", [HALL])
    assert await backend.refresh("p1", [(ROOM, "a"), (HALL, "a")], 10) == [1]
    assert await backend.refresh("p1", [], 10) == []


async def test_a_connection_taken_over_keeps_its_entries_through_its_old_owners_leave_and_sweep(backend):
    """Stateful reconnect's takeover: the new owner takes the entries as they are (metadata included); the old
    owner's removals and the sweep of the old owner leave them, and the new owner removes them when it ends."""
    user = PresenceScope(HUBNAME, USER, "u1")
    await backend.join("old", "a", [(ALL, entry("a", "u1")), (user, entry("a", "u1")), (ROOM, entry("a", nick="A"))], 1)
    await backend.join("old", "b", [(ROOM, entry("b"))], 1, liveness=0)
    taken = await backend.take("new", "a", 30, liveness=30)
    assert sorted((scope.kind, scope.name, e.metadata) for scope, e in taken) == [
        ("group", "room", {"nick": "A"}),
        ("hub", "", {}),
        ("user", "u1", {}),
    ]
    assert await backend.take("new", "nobody", 30) == []
    assert await backend.leave("old", "a", [ROOM, ALL]) == [False, False]  # the old owner lets it go: no-op
    await asyncio.sleep(1.1)  # the old owner's liveness and entries expired
    swept = await backend.sweep("new")
    assert [(scope.name, e.connection_id) for scope, e in swept] == [("room", "b")]
    assert await backend.connection_ids(ROOM) == ["a"]  # pushed forward by the take
    assert await backend.connection_ids(user) == ["a"]
    assert await backend.join("new", "a", [(ROOM, entry("a", nick="A2"))], 30) == [False]
    assert await backend.leave("new", "a", [ROOM, ALL, user]) == [True, True, True]
    assert await backend.connection_ids(ROOM) == []


async def test_refresh_in_batches(backend):
    items = []
    for index in range(2500):
        if index % 1000 != 999:  # 2 of 2500 never joined
            await backend.join("p1", f"c{index}", [(ROOM, entry(f"c{index}"))], 10)
        items.append((ROOM, f"c{index}"))
    assert await backend.refresh("p1", items, 10) == [999, 1999]
    assert await backend.count(ROOM) == 2498


def test_metadata_validation():
    assert normalize_metadata({"a": (1, 2)}, 100) == {"a": [1, 2]}
    since = datetime(2000, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)  # the string hubs would send for it
    assert normalize_metadata({"since": since, "n": Decimal("1.50")}, 100) == {
        "since": "2000-01-01T00:00:00.123Z", "n": "1.50",
    }  # fmt: skip
    assert normalize_metadata(None, 100) == {}
    with pytest.raises(PresenceError, match="PRESENCE_MAX_METADATA_SIZE"):
        normalize_metadata({"a": "x" * 200}, 100)
    with pytest.raises(PresenceError, match="JSON object"):
        normalize_metadata(["a"], 100)  # type: ignore[arg-type]
    with pytest.raises(PresenceError, match="JSON object"):
        normalize_metadata({1: "a"}, 100)  # type: ignore[dict-item]
    with pytest.raises(PresenceError, match="not JSON-serializable"):
        normalize_metadata({"a": object()}, 100)
    with pytest.raises(PresenceError, match="not JSON-serializable"):
        normalize_metadata({"a": float("nan")}, 100)


async def test_memory_sweep_finds_entries_whose_refresh_shortened_them():
    """The memory sweep skips its scan until the earliest expiry; a shorter refresh moves that forward."""
    store = MemoryPresence()
    await store.join("p1", "a", [(ROOM, entry("a"))], 30)
    await store.join("p1", "b", [(ROOM, entry("b"))], 30)
    assert await store.sweep("p1") == []
    assert await store.refresh("p1", [(ROOM, "a")], 0) == []  # its owner let it lapse
    assert [(scope, e.connection_id) for scope, e in await store.sweep("p1")] == [(ROOM, "a")]
    assert await store.sweep("p1") == []
    assert await store.connection_ids(ROOM) == ["b"]


# -- Redis only ------------------------------------------------------------------------------------


@pytest.fixture
async def redis_backend(settings, redis_url, raw):
    settings.REALTIME = {"REDIS_URL": redis_url}
    store = RedisPresence()
    async with store.session():
        yield store


async def test_redis_leaves_no_keys_behind(redis_backend, raw):
    user = PresenceScope(HUBNAME, USER, "u1")
    await redis_backend.join("gone", "a", [(ROOM, entry("a", "u1")), (user, entry("a", "u1")), (ALL, entry("a"))], 0.2)
    await redis_backend.join("p1", "b", [(ROOM, entry("b")), (HALL, entry("b"))], 10)
    await redis_backend.leave("p1", "b", [ROOM, HALL])
    await asyncio.sleep(0.3)
    assert len(await redis_backend.sweep("p1")) == 3
    assert await raw.keys("realtime:presence:*") == ["realtime:presence:procs"]
    assert await raw.zrange("realtime:presence:procs", 0, -1) == ["p1"]


async def test_redis_a_takeover_leaves_no_keys_behind(redis_backend, raw):
    await redis_backend.join("old", "a", [(ROOM, entry("a")), (ALL, entry("a"))], 30, liveness=0)
    assert len(await redis_backend.take("new", "a", 30)) == 2
    assert await raw.exists("realtime:presence:p:old") == 0  # nothing of its left for a sweep to take
    assert await redis_backend.sweep("new") == []
    assert await redis_backend.leave("new", "a", [ROOM, ALL]) == [True, True]
    assert await raw.keys("realtime:presence:*") == ["realtime:presence:procs"]


async def test_redis_listing_is_one_round_trip(redis_backend, raw):
    for index in range(3000):
        await redis_backend.join("p1", f"c{index:05}", [(ROOM, entry(f"c{index:05}", f"u{index % 7}", i=index))], 30)
    before = await _script_calls(raw)
    members = await redis_backend.members(ROOM)
    assert await _script_calls(raw) - before == 1
    assert len(members) == 3000
    assert {e.connection_id: e.metadata["i"] for e in members}["c02999"] == 2999


async def _script_calls(raw) -> int:
    stats = await raw.info("commandstats")
    return sum(value["calls"] for name, value in stats.items() if name in ("cmdstat_evalsha", "cmdstat_eval"))


async def test_redis_revived_process_is_not_reaped(redis_backend, raw):
    await redis_backend.join("slow", "a", [(ROOM, entry("a"))], 30, liveness=0)  # its liveness expired at once
    assert await redis_backend.alive("slow", 10) is True  # its beat came late, but before a sweep: told so
    assert await redis_backend.sweep("p1") == []
    assert await redis_backend.connection_ids(ROOM) == ["a"]


async def test_redis_liveness_not_entry_expiry_decides_death(redis_backend, raw):
    """Entries live 30 s, but their process's liveness expired: the next sweep takes them and cleans up."""
    user = PresenceScope(HUBNAME, USER, "u1")
    await redis_backend.join("dead", "a", [(ROOM, entry("a", "u1")), (user, entry("a", "u1"))], 30, liveness=0)
    await redis_backend.join("dead", "b", [(HALL, entry("b"))], 30, liveness=0)
    await redis_backend.join("live", "c", [(ROOM, entry("c"))], 30, liveness=30)
    assert sorted(await redis_backend.connection_ids(ROOM)) == ["a", "c"]  # still listed: entries unexpired
    swept = await redis_backend.sweep("live")
    assert sorted((scope.name, e.connection_id) for scope, e in swept) == [("hall", "b"), ("room", "a"), ("u1", "a")]
    assert await redis_backend.sweep("live") == []
    assert await redis_backend.connection_ids(ROOM) == ["c"]
    assert await raw.zrange("realtime:presence:procs", 0, -1) == ["live"]
    assert await raw.exists("realtime:presence:p:dead") == 0


async def test_redis_alive_tells_a_process_it_was_given_up_for_dead(redis_backend, raw):
    assert await redis_backend.alive("p1", 30) is True  # unknown (a new process, or Redis restarted empty)
    assert await redis_backend.alive("p1", 30) is False
    assert await redis_backend.alive("p1", 0) is False  # it was alive; now it expires at once
    assert await redis_backend.alive("p1", 30) is True  # expired
    await redis_backend.join("p2", "a", [(ROOM, entry("a"))], 30, liveness=0)
    assert len(await redis_backend.sweep("p1")) == 1  # p2 reaped: its liveness entry goes with its entries
    assert await raw.zrange("realtime:presence:procs", 0, -1) == ["p1"]
    assert await redis_backend.alive("p2", 30) is True
    assert await redis_backend.refresh("p2", [(ROOM, "a")], 30) == [0]  # so it writes its entries back


async def test_redis_beat_and_sweep_cost_the_same_whatever_the_entries(redis_backend, raw):
    """``alive()`` and a sweep that finds no dead process are O(1): the same commands for 0 or 2,000 entries."""

    async def cost() -> int:
        before = await _all_calls(raw)
        assert await redis_backend.alive("p1", 30) is False
        assert await redis_backend.sweep("p1") == []
        return await _all_calls(raw) - before

    await redis_backend.alive("p1", 30)
    empty = await cost()
    for index in range(2000):
        await redis_backend.join("p1", f"c{index}", [(ROOM, entry(f"c{index}")), (HALL, entry(f"c{index}"))], 30, 30)
    assert await redis_backend.count(ROOM) == 2000
    assert await cost() == empty
    assert empty <= 10  # two script calls (+ the INFO that reads the counters) and the few commands they run


async def _all_calls(raw) -> int:
    return sum(value["calls"] for value in (await raw.info("commandstats")).values())


async def test_redis_names_are_stored_with_scopes(redis_backend, raw):
    await redis_backend.join("p1", "a", [(PresenceScope(HUBNAME, GROUP, "ü ünïcode: *"), entry("a"))], 10)
    assert await redis_backend.names(HUBNAME, GROUP) == {"ü ünïcode: *": 1}
    names = await raw.hgetall("realtime:presence:n")
    assert [json.loads(v)["n"] for v in names.values()] == ["ü ünïcode: *"]


# -- settings ----------------------------------------------------------------------------------------


def test_presence_settings_and_hub_options(settings):
    from realtime.conf import hub_option
    from realtime.hubs import Hub

    class Quiet(Hub):
        track_presence = True
        presence_event = ""

    assert hub_option(Hub, "TRACK_PRESENCE") is False
    assert hub_option(Hub, "PRESENCE_EVENT") == "PresenceChanged"
    assert hub_option(Quiet, "TRACK_PRESENCE") is True and hub_option(Quiet, "PRESENCE_EVENT") == ""
    assert "presence" not in Quiet.hub_methods and "presence_metadata" not in Quiet.hub_methods
    settings.REALTIME = {"TRACK_PRESENCE": True, "PRESENCE_BACKEND": "realtime.presence.redis.RedisPresence"}
    assert hub_option(Hub, "TRACK_PRESENCE") is True
    from realtime.presence import presence

    assert isinstance(presence(), RedisPresence)
    settings.REALTIME = {}
    assert isinstance(presence(), MemoryPresence)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"PRESENCE_BACKEND": "realtime.presence.redis.RedisPresence"}, {"realtime.E006"}),
        ({"PRESENCE_BACKEND": "realtime.presence.redis.RedisPresence", "REDIS_URL": "redis://x"}, set()),
        ({"PRESENCE_TTL": 0}, {"realtime.E007"}),
        ({"PRESENCE_TTL": 5}, set()),
        ({"PRESENCE_LIVENESS_TTL": 2}, {"realtime.E008"}),  # not above the default 2 s beat
        ({"PRESENCE_LIVENESS_INTERVAL": 0, "PRESENCE_LIVENESS_TTL": 1}, {"realtime.E008"}),
        ({"PRESENCE_LIVENESS_INTERVAL": 20}, {"realtime.E008"}),  # above the default 10 s liveness
        ({"PRESENCE_LIVENESS_TTL": 3}, {"realtime.W009"}),  # one late beat would kill a live process
        ({"PRESENCE_LIVENESS_INTERVAL": 1, "PRESENCE_LIVENESS_TTL": 3}, set()),
    ],
)
def test_presence_checks(settings, config, expected):
    from django.core import checks

    settings.REALTIME = config
    ids = ("realtime.E006", "realtime.E007", "realtime.E008", "realtime.W009")
    found = {m.id for m in checks.run_checks(databases=[]) if m.id in ids}
    assert found == expected
