"""The user-group membership stores, in memory and in a private Redis: one contract."""

from __future__ import annotations

import time

import pytest
import redis.asyncio

from realtime.user_groups import MemoryUserGroups, RedisUserGroups
from tests.servers import redis_server

pytestmark = pytest.mark.timeout(60)

HUB = "tests.unit.UserGroupHub"


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
async def store(request, settings, redis_url):
    if request.param == "memory":
        yield MemoryUserGroups()
        return
    settings.REALTIME = {"REDIS_URL": redis_url}
    client = redis.asyncio.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    found = RedisUserGroups()
    yield found
    await found._clients.close_current()


async def test_add_list_replace_remove_clear(store):
    later = time.time() + 60
    await store.add(HUB, "alice", "a", later, limit=10)
    await store.add(HUB, "alice", "b", later + 1, limit=10)
    await store.add(HUB, "bob", "a", later, limit=10)
    assert await store.groups(HUB, "alice") == {"a": pytest.approx(later), "b": pytest.approx(later + 1)}
    await store.add(HUB, "alice", "a", later + 5, limit=10)  # a renewal replaces the expiry
    assert (await store.groups(HUB, "alice"))["a"] == pytest.approx(later + 5)
    await store.remove(HUB, "alice", "a")
    assert list(await store.groups(HUB, "alice")) == ["b"]
    await store.clear(HUB, "alice")
    assert await store.groups(HUB, "alice") == {}
    assert list(await store.groups(HUB, "bob")) == ["a"]
    assert await store.groups("another.Hub", "bob") == {}


async def test_expired_memberships_are_not_listed(store):
    await store.add(HUB, "carol", "gone", time.time() - 1, limit=10)
    await store.add(HUB, "carol", "kept", time.time() + 60, limit=10)
    assert list(await store.groups(HUB, "carol")) == ["kept"]


async def test_past_the_limit_the_membership_that_expires_first_goes(store):
    now = time.time()
    for index in range(4):
        await store.add(HUB, "dave", f"g{index}", now + 100 - index, limit=3)
    assert sorted(await store.groups(HUB, "dave")) == ["g0", "g1", "g2"]


async def test_redis_keys_expire_with_their_last_membership(settings, redis_url):
    settings.REALTIME = {"REDIS_URL": redis_url}
    store = RedisUserGroups()
    raw = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        await raw.flushdb()
        await store.add(HUB, "erin", "short", time.time() + 30, limit=10)
        await store.add(HUB, "erin", "long", time.time() + 300, limit=10)
        (key,) = await raw.keys("realtime:usergroups:*")
        assert 290_000 < await raw.pttl(key) <= 301_000  # the last membership's expiry, rounded up to the ms
    finally:
        await raw.aclose()
        await store._clients.close_current()
