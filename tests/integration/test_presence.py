"""Presence through the real wire protocol (in-process, memory backend): diffs, listings, users, limits."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.core.management.base import CommandError

from realtime import presence
from realtime.context import get_hub_context
from realtime.exceptions import GroupError, HubError
from realtime.hubs import Hub
from realtime.presence import PresenceError, PresenceUser
from realtime.presence.base import GROUP, PresenceEntry, PresenceScope
from realtime.testing import HubCommunicator
from tests.servers import redis_server

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class FakeUser:
    pk: int
    is_authenticated: bool = True


class PresenceHub(Hub):
    track_presence = True

    async def presence_metadata(self) -> dict:
        return {"device": self.context.request.query_value("device") or "web"}

    async def Id(self) -> str:  # noqa: N802
        return self.context.connection_id

    async def Join(self, group, metadata=None) -> None:  # noqa: N802
        await self.groups.add(self.context.connection_id, group, metadata=metadata)

    async def Leave(self, group) -> None:  # noqa: N802
        await self.groups.remove(self.context.connection_id, group)

    async def Ids(self, group) -> list[str]:  # noqa: N802
        return await self.presence.connection_ids(group)

    async def Count(self, group) -> int:  # noqa: N802
        return await self.presence.count(group)


class LobbyHub(Hub):
    """Joins every connection to the lobby when it connects; diffs under another client method."""

    track_presence = True
    presence_event = "Presence"

    async def on_connected(self) -> None:
        await self.groups.add(self.context.connection_id, "lobby")


class SilentHub(PresenceHub):
    presence_event = ""


class PlainHub(Hub):
    async def Join(self, group, metadata=None) -> None:  # noqa: N802
        await self.groups.add(self.context.connection_id, group, metadata=metadata)


def room() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


async def diff(client: HubCommunicator, target: str = "PresenceChanged") -> dict:
    return (await client.receive_invocation(target)).arguments[0]


async def test_join_leave_and_disconnect_send_diffs():
    group = room()
    async with HubCommunicator(PresenceHub) as alice:
        a = await alice.invoke("Id")
        await alice.invoke("Join", group)
        assert await diff(alice) == {"group": group, "joined": [a], "left": []}
        bob = HubCommunicator(PresenceHub)
        await bob.connect()
        b = await bob.invoke("Id")
        await bob.invoke("Join", group)
        assert await diff(alice) == {"group": group, "joined": [b], "left": []}
        assert await diff(bob) == {"group": group, "joined": [b], "left": []}
        assert await alice.invoke("Ids", group) == sorted([a, b])
        assert await alice.invoke("Count", group) == 2
        await bob.invoke("Leave", group)
        assert await diff(alice) == {"group": group, "joined": [], "left": [b]}
        assert await bob.receive_nothing(0.1)  # it is no member any more
        await bob.invoke("Join", group)
        assert await diff(alice) == {"group": group, "joined": [b], "left": []}
        await bob.disconnect()
        assert await diff(alice) == {"group": group, "joined": [], "left": [b]}
        assert await alice.invoke("Ids", group) == [a]
    assert await get_hub_context(PresenceHub).presence.count(group) == 0


async def test_connecting_and_joining_is_announced():
    async with HubCommunicator(LobbyHub) as first:
        announced = await diff(first, "Presence")
        ids = await get_hub_context(LobbyHub).presence.connection_ids("lobby")
        assert len(ids) == 1
        assert announced == {"group": "lobby", "joined": ids, "left": []}
        async with HubCommunicator(LobbyHub):
            joined = (await diff(first, "Presence"))["joined"]
            assert len(joined) == 1 and joined[0] not in ids
        assert (await diff(first, "Presence"))["left"] == joined


async def test_repeated_joins_are_idempotent_and_silent():
    group = room()
    async with HubCommunicator(PresenceHub) as alice:
        for _ in range(50):
            await alice.invoke("Join", group)
        assert (await diff(alice))["joined"] == [await alice.invoke("Id")]
        assert await alice.receive_nothing(0.2)
        assert await alice.invoke("Count", group) == 1
        await alice.invoke("Leave", "never joined")  # no error, no diff
        assert await alice.receive_nothing(0.1)


async def test_entries_carry_user_time_and_metadata():
    group = room()
    before = time.time()
    async with HubCommunicator(PresenceHub, path="/hub?device=phone", user=FakeUser(7)) as alice:
        a = await alice.invoke("Id")
        await alice.invoke("Join", group, {"status": "away"})
        (entry,) = await get_hub_context(PresenceHub).presence.members(group)
        assert entry.connection_id == a and entry.user_id == "7"
        assert before <= entry.connected_at <= time.time()
        assert entry.metadata == {"device": "phone", "status": "away"}
        await alice.invoke("Join", group, {"status": "busy"})  # metadata changed: entry rewritten, no diff
        (entry,) = await get_hub_context(PresenceHub).presence.members(group)
        assert entry.metadata == {"device": "phone", "status": "busy"}
        (hub_entry,) = await get_hub_context(PresenceHub).presence.user_connections("7")
        assert hub_entry.metadata == {"device": "phone"}


async def test_users_are_grouped_and_online():
    group = room()
    context = get_hub_context(PresenceHub).presence
    async with AsyncExitStack() as stack:
        tabs = [await stack.enter_async_context(HubCommunicator(PresenceHub, user=FakeUser(1))) for _ in range(3)]
        other = await stack.enter_async_context(HubCommunicator(PresenceHub, user=FakeUser(2)))
        anonymous = [await stack.enter_async_context(HubCommunicator(PresenceHub)) for _ in range(2)]
        for client in [*tabs, other, *anonymous]:
            await client.invoke("Join", group)
        users = await context.users(group)
        assert [(u.user_id, len(u.entries)) for u in users] == [("1", 3), ("2", 1), (None, 1), (None, 1)]
        assert sorted(e.connection_id for e in users[0].entries) == sorted([await t.invoke("Id") for t in tabs])
        assert await context.count(group) == 6
        assert await context.is_online("1") and await context.is_online(2)
        assert not await context.is_online("3")
        assert len(await context.user_connections("1")) == 3
        await tabs[0].disconnect()
        await tabs[1].disconnect()
        assert await context.is_online("1")
        assert [(u.user_id, len(u.entries)) for u in await context.users(group)][0] == ("1", 1)
    assert not await context.is_online("1")
    assert await context.users(group) == []


async def test_hub_context_sync_api_and_remote_group_changes():
    """A sync caller (view, Celery task) in another thread: its own event loop, so changes go to the owner."""
    group = room()
    context = get_hub_context(PresenceHub)
    async with HubCommunicator(PresenceHub) as alice:
        a = await alice.invoke("Id")

        def from_a_view():
            async_to_sync(context.groups.add)(a, group, metadata={"via": "view"})
            return context.presence.connection_ids_sync(group), context.presence.members_sync(group)

        ids, members = await asyncio.to_thread(from_a_view)
        assert ids == [a] and members[0].metadata == {"device": "web", "via": "view"}
        assert await diff(alice) == {"group": group, "joined": [a], "left": []}
        assert await asyncio.to_thread(context.presence.groups_sync) == {group: 1}
        assert await asyncio.to_thread(context.presence.count_sync) >= 1
        with pytest.raises(RuntimeError, match="use 'await ...members"):
            context.presence.members_sync(group)


async def test_bad_input_is_refused_clearly(settings):
    settings.REALTIME = {"MAX_GROUPS": 3, "PRESENCE_MAX_METADATA_SIZE": 100}
    groups = [room() for _ in range(4)]
    async with HubCommunicator(PresenceHub) as alice:
        a = await alice.invoke("Id")
        with pytest.raises(HubError, match=r"is \d+ bytes as JSON; the limit is 100 \(PRESENCE_MAX_METADATA_SIZE\)"):
            await alice.invoke("Join", groups[0], {"bio": "x" * 200})
        with pytest.raises(HubError, match="JSON object with string keys"):
            await alice.invoke("Join", groups[0], ["not", "an", "object"])
        with pytest.raises(HubError, match="Group names are non-empty strings"):
            await alice.invoke("Join", "")
        for group in groups[:3]:
            await alice.invoke("Join", group)
            assert (await diff(alice))["group"] == group
        with pytest.raises(HubError, match=r"already in 3 groups \(MAX_GROUPS\)"):
            await alice.invoke("Join", groups[3])
        await alice.invoke("Join", groups[0])  # a group it is in: fine
        # the refused join left no layer membership behind
        await get_hub_context(PresenceHub).clients.group(groups[3]).asend("Hello")
        await get_hub_context(PresenceHub).clients.group(groups[2]).asend("Hello")
        assert (await alice.receive_invocation("Hello")).arguments == []
        assert await alice.receive_nothing(0.1)
        # the same refusal reaches a caller in another process (here: another event loop)
        with pytest.raises(GroupError, match="MAX_GROUPS"):
            await asyncio.to_thread(async_to_sync(get_hub_context(PresenceHub).groups.add), a, groups[3])
        assert sorted(await get_hub_context(PresenceHub).presence.groups()) == sorted(groups[:3])


async def test_untracked_hubs_refuse_presence_calls():
    with pytest.raises(PresenceError, match="does not track presence"):
        await get_hub_context(PlainHub).presence.members("g")
    async with HubCommunicator(PlainHub) as client:
        await client.invoke("Join", "g")
        with pytest.raises(HubError, match="does not track presence"):
            await client.invoke("Join", "g", {"a": 1})
        assert await client.receive_nothing(0.1)  # and no diffs


async def test_silent_hub_tracks_without_diffs():
    group = room()
    async with HubCommunicator(SilentHub) as client:
        await client.invoke("Join", group)
        assert await client.invoke("Count", group) == 1
        assert await client.receive_nothing(0.2)


async def test_heartbeat_sweeps_dead_entries_and_restores_lost_ones():
    """A store entry nobody refreshes is swept and announced as left; an entry the store lost is written back."""
    group = room()
    store = presence.presence()
    async with HubCommunicator(PresenceHub) as alice:
        a = await alice.invoke("Id")
        await alice.invoke("Join", group)
        await diff(alice)
        scope = PresenceScope(PresenceHub.hub_name(), GROUP, group)
        await store.join("crashed-process", "ghost", [(scope, PresenceEntry("ghost", None, time.time()))], 0.05)
        await asyncio.sleep(0.1)
        tracker = presence.tracker()
        await tracker.beat()
        assert await diff(alice) == {"group": group, "joined": [], "left": ["ghost"]}
        await store.leave(tracker.process, a, [scope])  # as if the store had lost it
        await tracker.beat()
        assert await diff(alice) == {"group": group, "joined": [a], "left": []}
        assert await alice.invoke("Ids", group) == [a]


async def test_a_process_given_up_for_dead_writes_its_entries_back_at_its_next_beat(settings):
    """Redis: another process swept this one's entries (its liveness had lapsed, as after a long pause); its next
    beat, even one with no refresh due, writes them back and announces them as joined."""
    group = room()
    with redis_server() as url:
        settings.REALTIME = {  # no background beat during the test: this one calls beat() itself
            "REDIS_URL": url,
            "PRESENCE_BACKEND": "realtime.presence.redis.RedisPresence",
            "PRESENCE_TTL": 600,
            "PRESENCE_LIVENESS_INTERVAL": 300,
            "PRESENCE_LIVENESS_TTL": 900,
        }
        store = presence.presence()
        async with store.session(), HubCommunicator(PresenceHub) as alice:
            a = await alice.invoke("Id")
            await alice.invoke("Join", group)
            await diff(alice)
            tracker = presence.tracker()
            assert await store.alive(tracker.process, 0) is False  # its liveness lapses at once
            swept = await store.sweep("another-process")
            assert {entry.connection_id for _, entry in swept} == {a}
            assert await alice.invoke("Ids", group) == []
            await tracker.beat(refresh=False)
            assert await diff(alice) == {"group": group, "joined": [a], "left": []}
            assert await alice.invoke("Ids", group) == [a]
            await alice.disconnect()
            assert await store.count(PresenceScope(PresenceHub.hub_name(), GROUP, group)) == 0


async def test_failed_removal_is_retried(monkeypatch):
    group = room()
    store = presence.presence()
    async with HubCommunicator(PresenceHub) as alice, HubCommunicator(PresenceHub) as bob:
        await alice.invoke("Join", group)
        await bob.invoke("Join", group)
        b = await bob.invoke("Id")
        leave = store.leave

        async def broken(*args, **kwargs):
            monkeypatch.setattr(store, "leave", leave)
            raise ConnectionError("store down")

        monkeypatch.setattr(store, "leave", broken)
        await bob.invoke("Leave", group)
        assert await alice.invoke("Ids", group) == sorted([await alice.invoke("Id"), b])
        await presence.tracker().beat()
        assert await alice.invoke("Ids", group) == [await alice.invoke("Id")]
        diffs = [await diff(alice) for _ in range(3)]
        assert diffs[-1] == {"group": group, "joined": [], "left": [b]}


async def test_management_command():
    group = room()
    async with HubCommunicator(PresenceHub, user=FakeUser(5)) as alice, HubCommunicator(PresenceHub) as bob:
        a = await alice.invoke("Id")
        await alice.invoke("Join", group, {"nick": "al"})
        await bob.invoke("Join", group)
        hub = "tests.integration.test_presence.PresenceHub"

        def run(*args):
            out = io.StringIO()
            call_command("realtime_presence", *args, stdout=out)
            return out.getvalue()

        summary = await asyncio.to_thread(run, hub)
        assert f"  {group}\t2" in summary
        text = await asyncio.to_thread(run, hub, group)
        assert text.startswith(f"{group}: 2 connection(s), 2 user(s)")
        assert f"    {a}\tsince " in text and '{"device": "web", "nick": "al"}' in text and "(anonymous)" in text
        data = json.loads(await asyncio.to_thread(run, hub, group, "--json"))
        assert data["users"][0]["user"] == "5" and data["users"][0]["connections"][0]["connectionId"] == a
        with pytest.raises(CommandError, match="does not track presence"):
            await asyncio.to_thread(run, "tests.integration.test_presence.PlainHub")
        with pytest.raises(CommandError, match="Cannot import hub"):
            await asyncio.to_thread(run, "no.such.Hub")


def test_presence_user_is_a_value():
    entry = PresenceEntry("c", "u", 1.0, {})
    assert PresenceUser("u", [entry]) == PresenceUser("u", [entry])
