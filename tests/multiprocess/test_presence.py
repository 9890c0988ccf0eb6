"""Presence across real server processes on one private Redis: listings, diffs, users, kill -9, churn.

The ``cluster`` servers run with short presence timings: entries live ``PRESENCE_TTL=3`` s and are
refreshed every second, a process beats every ``PRESENCE_LIVENESS_INTERVAL=1`` s and counts as alive for
``PRESENCE_LIVENESS_TTL=3`` s, so the entries of a killed process are swept (and announced as ``left``)
at most 3 + 1 = 4 s after its last beat. One more test runs two servers with the default timings. This
test process reads the same Redis through the hub context, as a view or Celery task would.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import signal
import time
import urllib.request

import pytest
import redis.asyncio
from django.core.management import call_command

from realtime import presence
from realtime.context import get_hub_context
from tests.conformance.hubs import ChatHub
from tests.servers import conformance_server, redis_server
from tests.signalr_client import RawHubClient

pytestmark = pytest.mark.timeout(120)

TTL = 3.0
LIVENESS_INTERVAL = 1.0
LIVENESS_TTL = 3.0
SWEEP_BOUND = LIVENESS_TTL + LIVENESS_INTERVAL
CLIENT_TIMEOUT = 30.0
"""The requirement for the default timings: a dead process's connections leave within the client timeout."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two daphne processes sharing one private Redis and one database; yields (redis url, env, servers)."""
    database = tmp_path_factory.mktemp("presence") / "db.sqlite3"
    with redis_server() as url:
        env = {
            "REDIS_URL": url,
            "CONFORMANCE_DB": str(database),
            "PRESENCE_TTL": str(TTL),
            "PRESENCE_LIVENESS_INTERVAL": str(LIVENESS_INTERVAL),
            "PRESENCE_LIVENESS_TTL": str(LIVENESS_TTL),
        }
        with conformance_server("daphne", env=env) as first, conformance_server("daphne", env=env) as second:
            yield url, env, (first, second)


@pytest.fixture
async def context(cluster, settings):
    """ChatHub's presence as seen from this process (like a view or a Celery task), on the cluster's Redis."""
    settings.REALTIME = {"REDIS_URL": cluster[0], "PRESENCE_BACKEND": "realtime.presence.redis.RedisPresence"}
    async with presence.presence().session():
        yield get_hub_context(ChatHub).presence


def ws(server, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/chathub" + query


async def token(server, user: str) -> str:
    def fetch() -> str:
        with urllib.request.urlopen(f"{server.url}/generateJwtToken?user={user}", timeout=10) as response:
            return response.read().decode()

    return await asyncio.to_thread(fetch)


async def next_diff(client: RawHubClient, timeout: float = 10) -> dict:
    return (await client.receive_invocation("PresenceChanged", timeout=timeout))[0]


async def close_all(clients) -> None:
    """Close cleanly where the client keeps up; a client with unread diffs would wait 10 s for the close frame."""

    async def close(client: RawHubClient) -> None:
        try:
            await asyncio.wait_for(client.close(), 1)
        except Exception:
            client.socket.transport.abort()

    await asyncio.gather(*(close(client) for client in clients))


async def test_members_and_diffs_across_processes(cluster, context):
    first, second = cluster[2]
    alice = await RawHubClient.open(ws(first))
    bob = await RawHubClient.open(ws(second))
    carol = await RawHubClient.open(ws(second))
    try:
        await alice.invoke("JoinGroup", "room")
        (a,) = (await next_diff(alice))["joined"]
        await bob.invoke("JoinGroup", "room")
        joined = await next_diff(alice)
        (b,) = joined["joined"]
        assert joined == {"group": "room", "joined": [b], "left": []}
        assert await next_diff(bob) == joined
        assert await alice.invoke("GetGroupMembers", "room") == sorted([a, b])
        assert await bob.invoke("GetGroupMembers", "room") == sorted([a, b])
        assert await context.count("room") == 2
        await bob.invoke("LeaveGroup", "room")
        assert await next_diff(alice) == {"group": "room", "joined": [], "left": [b]}
        await carol.invoke("JoinGroup", "room")
        (c,) = (await next_diff(alice))["joined"]
        await carol.close()  # a clean disconnect on process 2
        assert await next_diff(alice) == {"group": "room", "joined": [], "left": [c]}
        await bob.invoke("JoinGroup", "room")
        assert (await next_diff(alice))["joined"] == [b]
        bob.socket.transport.abort()  # no close frame: the server notices the dead socket
        assert await next_diff(alice) == {"group": "room", "joined": [], "left": [b]}
        assert await alice.invoke("GetGroupMembers", "room") == [a]
        assert await alice.invoke("GetGroupMembers", "nobody's group") == []
    finally:
        await close_all([alice, bob, carol])


async def test_users_across_processes_from_the_hub_context(cluster, context):
    first, second = cluster[2]
    jwt = await token(first, "multi")
    tabs = [await RawHubClient.open(ws(server, f"?access_token={jwt}")) for server in (first, first, second)]
    stranger = await RawHubClient.open(ws(second))
    everyone = [*tabs, stranger]
    try:
        for client in everyone:
            await client.invoke("JoinGroup", "lounge")
        (stranger_id,) = (await next_diff(stranger))["joined"]  # it joined last: its first diff is its own
        tab_ids = set(await stranger.invoke("GetGroupMembers", "lounge")) - {stranger_id}
        users = await context.users("lounge")
        assert [(user.user_id, len(user.entries)) for user in users] == [("multi", 3), (None, 1)]
        assert await context.is_online("multi")
        assert not await context.is_online("nobody")
        assert len(await context.user_connections("multi")) == 3
        assert (await context.groups())["lounge"] == 4

        def command() -> dict:
            out = io.StringIO()
            call_command("realtime_presence", "tests.conformance.hubs.ChatHub", "lounge", "--json", stdout=out)
            return json.loads(out.getvalue())

        data = await asyncio.to_thread(command)
        assert [(user["user"], len(user["connections"])) for user in data["users"]] == [("multi", 3), (None, 1)]
        for tab in tabs:
            await tab.close()
        # each owner removes all entries of a closed connection (user scope included), then announces "left"
        left: set[str] = set()
        for _ in tab_ids:
            left.update((await next_diff(stranger))["left"])
        assert left == tab_ids
        assert not await context.is_online("multi")
        assert [user.user_id for user in await context.users("lounge")] == [None]
    finally:
        await close_all(everyone)


async def test_kill_9_sends_leave_diffs_within_the_bound(cluster, context):
    url, env, (first, _) = cluster
    observer = await RawHubClient.open(ws(first))
    victims: list[RawHubClient] = []
    try:
        await observer.invoke("JoinGroup", "doomed")
        (watcher,) = (await next_diff(observer))["joined"]
        with conformance_server("daphne", env=env) as doomed:
            victims = [await RawHubClient.open(ws(doomed)) for _ in range(3)]
            ids = set()
            for victim in victims:
                await victim.invoke("JoinGroup", "doomed")
                ids.update((await next_diff(observer))["joined"])
            assert await observer.invoke("GetGroupMembers", "doomed") == sorted({watcher, *ids})
            os.kill(doomed.process.pid, signal.SIGKILL)
            killed = time.monotonic()
            left: set[str] = set()
            while left != ids:
                left.update((await next_diff(observer, timeout=SWEEP_BOUND + 5))["left"])
            delay = time.monotonic() - killed
        print(f"\nkill -9: leave diffs for {len(ids)} connections {delay:.2f} s after the kill (bound {SWEEP_BOUND} s)")
        assert delay < SWEEP_BOUND + 2.0  # + the sweep itself and the diff's trip, on a busy machine
        assert await observer.invoke("GetGroupMembers", "doomed") == [watcher]
        assert await context.count() >= 1
        client = redis.asyncio.Redis.from_url(url, decode_responses=True)
        try:  # the dead process's own index and liveness entry are gone too
            processes = await client.zrange("realtime:presence:procs", 0, -1)
            indexes = await client.keys("realtime:presence:p:*")
        finally:
            await client.aclose()
        assert not [name for name in processes + indexes if f":{doomed.process.pid}:" in name]
    finally:
        await close_all([observer])
        for victim in victims:
            victim.socket.transport.abort()


async def test_kill_9_with_default_settings_leaves_within_the_client_timeout(record_property):
    """No presence setting overridden: a member on A sees B's connection leave within 30 s of ``kill -9`` B."""
    with redis_server() as url, conformance_server("daphne", env={"REDIS_URL": url}) as first:
        with conformance_server("daphne", env={"REDIS_URL": url}) as second:
            alice = await RawHubClient.open(ws(first))
            bob = await RawHubClient.open(ws(second))
            try:
                await alice.invoke("JoinGroup", "defaults")
                (a,) = (await next_diff(alice))["joined"]
                await bob.invoke("JoinGroup", "defaults")
                (b,) = (await next_diff(alice))["joined"]
                assert await alice.invoke("GetGroupMembers", "defaults") == sorted([a, b])
                os.kill(second.process.pid, signal.SIGKILL)
                killed = time.monotonic()
                deadline = killed + CLIENT_TIMEOUT
                change = await next_diff(alice, timeout=deadline - time.monotonic())
                delay = time.monotonic() - killed
            finally:
                await close_all([alice])
                bob.socket.transport.abort()
    print(f"\nkill -9 with default presence settings: leave diff {delay:.2f} s after the kill")
    record_property("kill_to_leave_s", round(delay, 2))
    assert change == {"group": "defaults", "joined": [], "left": [b]}


async def test_a_thousand_fast_joins_and_leaves_end_exact(cluster, context):
    """10 clients on two processes make 1,000 random joins/leaves over 5 groups, concurrently."""
    servers = cluster[2]
    groups = [f"churn-{index}" for index in range(5)]
    # Observers only listen while the workers churn (which can outlast the 30 s client timeout on a loaded machine),
    # so they ping as the official clients do.
    observers = [await RawHubClient.open(ws(servers[index % 2]), ping_every=10.0) for index in range(len(groups))]
    workers = [await RawHubClient.open(ws(servers[index % 2])) for index in range(10)]
    try:
        observer_ids = {}
        for observer, group in zip(observers, groups, strict=True):
            await observer.invoke("JoinGroup", group)
            observer_ids[group] = (await next_diff(observer))["joined"][0]
        member_of: dict[int, set[str]] = {index: set() for index in range(len(workers))}
        ids: dict[int, str] = {}
        for index, client in enumerate(workers):  # learn each worker's id from a group of its own
            await client.invoke("JoinGroup", f"whoami-{index}")
            ids[index] = (await next_diff(client))["joined"][0]
            await client.invoke("LeaveGroup", f"whoami-{index}")

        async def churn(index: int, client: RawHubClient) -> None:
            rng = random.Random(index)
            for _ in range(100):
                group = rng.choice(groups)
                if group in member_of[index]:
                    await client.invoke("LeaveGroup", group)
                    member_of[index].discard(group)
                else:
                    await client.invoke("JoinGroup", group)
                    member_of[index].add(group)

        started = time.monotonic()
        await asyncio.gather(*(churn(index, client) for index, client in enumerate(workers)))
        elapsed = time.monotonic() - started
        print(f"\n1,000 joins/leaves from 10 clients on 2 processes: {elapsed:.2f} s ({1000 / elapsed:.0f}/s)")
        for group, observer in zip(groups, observers, strict=True):
            expected = sorted({observer_ids[group]} | {ids[i] for i, joined in member_of.items() if group in joined})
            for client in (observers[0], observers[1]):  # one on each process
                assert await client.invoke("GetGroupMembers", group) == expected
            assert await context.count(group) == len(expected)
            # replaying the diffs the observer received gives the same members
            seen = {observer_ids[group]}
            deadline = time.monotonic() + 15
            while sorted(seen) != expected and time.monotonic() < deadline:
                change = await next_diff(observer, timeout=max(deadline - time.monotonic(), 0.1))
                seen = (seen | set(change["joined"])) - set(change["left"])
            assert sorted(seen) == expected
    finally:
        await close_all([*observers, *workers])
