"""Who a message reaches: target proxies, groups, users, pushes from outside hubs, encode-once fan-out."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from realtime import local, names
from realtime.context import get_hub_context
from realtime.hubs import Hub
from realtime.protocol.json import JsonHubProtocol
from realtime.protocol.messages import InvocationMessage
from realtime.protocol.msgpack import MessagePackHubProtocol
from realtime.testing import HubCommunicator


@dataclass(frozen=True)
class FakeUser:
    pk: int
    is_authenticated: bool = True


class TargetHub(Hub):
    async def GetId(self):  # noqa: N802
        return self.context.connection_id

    async def WhoAmI(self):  # noqa: N802
        return self.context.user_identifier

    async def Join(self, group: str) -> None:  # noqa: N802
        await self.groups.add(self.context.connection_id, group)

    async def Leave(self, group: str) -> None:  # noqa: N802
        await self.groups.remove(self.context.connection_id, group)

    async def Send(self, kind: str, arg, text: str) -> None:  # noqa: N802
        clients = self.clients
        proxies = {
            "all": lambda: clients.all,
            "caller": lambda: clients.caller,
            "others": lambda: clients.others,
            "client": lambda: clients.client(arg),
            "clients": lambda: clients.clients(arg),
            "all_except": lambda: clients.all_except(arg),
            "group": lambda: clients.group(arg),
            "groups": lambda: clients.groups(arg),
            "group_except": lambda: clients.group_except(arg[0], arg[1]),
            "others_in_group": lambda: clients.others_in_group(arg),
            "user": lambda: clients.user(arg),
            "users": lambda: clients.users(arg),
        }
        await proxies[kind]().asend("Msg", text)


class OtherHub(Hub):
    async def Join(self, group: str) -> None:  # noqa: N802
        await self.groups.add(self.context.connection_id, group)


@pytest.fixture
async def crowd():
    """Four connections: a, b (user 1, group g1), c (user 2, groups g1 and g2), d (anonymous, group g2)."""
    async with AsyncExitStack() as stack:
        clients = {
            "a": HubCommunicator(TargetHub, user=FakeUser(1)),
            "b": HubCommunicator(TargetHub, user=FakeUser(1)),
            "c": HubCommunicator(TargetHub, user=FakeUser(2)),
            "d": HubCommunicator(TargetHub),
        }
        ids = {}
        for name, client in clients.items():
            await stack.enter_async_context(client)
            ids[name] = await client.invoke("GetId")
        for name, groups in {"a": ["g1"], "b": ["g1"], "c": ["g1", "g2"], "d": ["g2"]}.items():
            for group in groups:
                await clients[name].invoke("Join", group)
        yield clients, ids


async def received(clients: dict[str, HubCommunicator], expected: Counter) -> Counter:
    """Wait for the expected deliveries of ``Msg``, then collect any extra ones briefly."""
    got: Counter = Counter()
    for name, count in expected.items():
        for _ in range(count):
            await clients[name].receive_invocation("Msg", timeout=2)
            got[name] += 1
    await asyncio.sleep(0.05)
    for name, client in clients.items():
        while not await client.receive_nothing(0.01):
            got[name] += 1
    return got


@pytest.mark.parametrize(
    ("kind", "arg", "expected"),
    [
        ("all", None, "abcd"),
        ("caller", None, "a"),
        ("others", None, "bcd"),
        ("client", "@c", "c"),
        ("clients", ["@b", "@d", "@b"], "bd"),
        ("all_except", ["@b", "@c"], "ad"),
        ("group", "g1", "abc"),
        ("group", "nobody-here", ""),
        ("groups", ["g1", "g2"], "abccd"),  # c is in both groups and gets it twice, as in SignalR
        ("group_except", ["g1", ["@b"]], "ac"),
        ("others_in_group", "g1", "bc"),
        ("others_in_group", "g2", "cd"),
        ("user", "1", "ab"),
        ("users", ["1", "2"], "abc"),
        ("user", "3", ""),
    ],
)
async def test_targets(crowd, kind, arg, expected):
    clients, ids = crowd

    def resolve(value):
        if isinstance(value, str) and value.startswith("@"):
            return ids[value[1:]]
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    await clients["a"].invoke("Send", kind, resolve(arg), "hello")
    assert await received(clients, Counter(expected)) == Counter(expected)


async def test_message_arguments_arrive_intact(crowd):
    clients, _ = crowd
    await clients["a"].invoke("Send", "caller", None, "hello")
    message = await clients["a"].receive_invocation("Msg")
    assert message == InvocationMessage(target="Msg", arguments=["hello"])


async def test_groups_are_per_hub(crowd):
    clients, _ = crowd
    async with HubCommunicator(OtherHub) as other:
        await other.invoke("Join", "g1")
        await clients["a"].invoke("Send", "group", "g1", "hello")
        assert await received(clients, Counter("abc")) == Counter("abc")
        await get_hub_context(TargetHub).clients.all.asend("Msg", "to TargetHub only")
        assert await received(clients, Counter("abcd")) == Counter("abcd")
        assert await other.receive_nothing(0.1)


async def test_group_add_and_remove():
    async with HubCommunicator(TargetHub) as a, HubCommunicator(TargetHub) as b:
        await a.invoke("Join", "room")
        await b.invoke("Send", "group", "room", "one")
        assert (await a.receive_invocation("Msg")).arguments == ["one"]
        await a.invoke("Leave", "room")
        await b.invoke("Send", "group", "room", "two")
        await b.invoke("Send", "caller", None, "marker")
        await b.receive_invocation("Msg")
        assert await a.receive_nothing(0.1)
        await a.invoke("Join", "room")
        await a.invoke("Join", "room")  # joining twice delivers once
        await b.invoke("Send", "group", "room", "three")
        assert (await a.receive_invocation("Msg")).arguments == ["three"]
        assert await a.receive_nothing(0.1)


async def test_hub_context_manages_groups_from_outside():
    async with HubCommunicator(TargetHub) as a:
        connection_id = await a.invoke("GetId")
        context = get_hub_context(TargetHub)
        await context.groups.add(connection_id, "outside")
        await context.clients.group("outside").asend("Msg", "in")
        assert (await a.receive_invocation("Msg")).arguments == ["in"]
        await context.groups.remove(connection_id, "outside")
        await context.clients.group("outside").asend("Msg", "out")
        assert await a.receive_nothing(0.1)


async def test_group_memberships_are_removed_at_disconnect():
    table = local.table()
    group = names.group(TargetHub.hub_name(), "room")
    async with HubCommunicator(TargetHub) as stays:
        leaver = HubCommunicator(TargetHub)
        await leaver.connect()
        leaver_id = await leaver.invoke("GetId")
        await leaver.invoke("Join", "room")
        await stays.invoke("Join", "room")
        assert {c.connection_id for c in table.members[group]} == {leaver_id, await stays.invoke("GetId")}
        await leaver.disconnect()
        assert leaver_id not in {c.connection_id for c in table.members[group]}
        assert leaver_id not in table.connections
        assert not any(leaver_id in {c.connection_id for c in members} for members in table.members.values())
        await get_hub_context(TargetHub).clients.group("room").asend("Msg", "still here")
        assert (await stays.receive_invocation("Msg")).arguments == ["still here"]
    assert group not in table.members


async def test_group_changes_from_a_worker_thread():
    async with HubCommunicator(TargetHub) as a:
        connection_id = await a.invoke("GetId")
        groups = get_hub_context(TargetHub).groups
        await asyncio.to_thread(async_to_sync(groups.add), connection_id, "threaded")
        await get_hub_context(TargetHub).clients.group("threaded").asend("Msg", "in")
        assert (await a.receive_invocation("Msg")).arguments == ["in"]
        await asyncio.to_thread(async_to_sync(groups.remove), connection_id, "threaded")
        await get_hub_context(TargetHub).clients.group("threaded").asend("Msg", "out")
        assert await a.receive_nothing(0.1)


async def test_group_change_for_unknown_connection_raises(monkeypatch):
    monkeypatch.setattr("realtime.groups.GROUP_CHANGE_TIMEOUT", 0.1)
    with pytest.raises(LookupError, match="no-such-connection"):
        await get_hub_context(TargetHub).groups.add("no-such-connection", "g")


@pytest.mark.django_db(transaction=True)
async def test_user_target_with_a_real_django_user():
    from django.contrib.auth import get_user_model

    user = await get_user_model().objects.acreate(username="alice")
    async with HubCommunicator(TargetHub, user=user) as alice, HubCommunicator(TargetHub) as anonymous:
        assert await alice.invoke("WhoAmI") == str(user.pk)
        assert await anonymous.invoke("WhoAmI") is None
        await get_hub_context(TargetHub).clients.user(str(user.pk)).asend("Msg", "for alice")
        assert (await alice.receive_invocation("Msg")).arguments == ["for alice"]
        assert await anonymous.receive_nothing(0.1)


# -- pushes from outside hub methods ------------------------------------------------------------------


def push_from_sync_code(text: str) -> None:
    get_hub_context(TargetHub).clients.group("news").send("Msg", text)


@pytest.fixture
async def subscriber():
    async with HubCommunicator(TargetHub) as client:
        await client.invoke("Join", "news")
        yield client


async def test_asend_from_async_code(subscriber):
    await get_hub_context(TargetHub).clients.group("news").asend("Msg", "async")
    assert (await subscriber.receive_invocation("Msg")).arguments == ["async"]


async def test_send_from_sync_to_async(subscriber):
    await sync_to_async(push_from_sync_code)("sync_to_async")
    assert (await subscriber.receive_invocation("Msg")).arguments == ["sync_to_async"]


async def test_send_from_asyncio_to_thread(subscriber):
    await asyncio.to_thread(push_from_sync_code, "to_thread")
    assert (await subscriber.receive_invocation("Msg")).arguments == ["to_thread"]


async def test_send_from_a_thread_that_keeps_running(subscriber):
    """A worker thread pushes and carries on (it is not joined before the message must arrive)."""
    done = threading.Event()
    errors = []

    def worker():
        try:
            push_from_sync_code("thread")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        done.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        message = await subscriber.receive_invocation("Msg", timeout=2)
    finally:
        done.set()
        await asyncio.to_thread(thread.join, 5)
    assert errors == []
    assert message.arguments == ["thread"]


async def test_sync_send_and_invoke_inside_a_running_loop_name_the_async_twin():
    context = get_hub_context(TargetHub)
    with pytest.raises(RuntimeError, match=r"ClientProxy\.send\(\).*'await \.\.\.asend\(\.\.\.\)'"):
        context.clients.group("news").send("Msg", "x")
    with pytest.raises(RuntimeError, match="asend"):
        context.clients.client("someone").send("Msg", "x")
    with pytest.raises(RuntimeError, match=r"SingleClientProxy\.invoke_sync\(\).*'await \.\.\.invoke\(\.\.\.\)'"):
        context.clients.client("someone").invoke_sync("Result")


# -- encode once ----------------------------------------------------------------------------------


async def test_broadcast_is_encoded_once_per_protocol(monkeypatch):
    counts: Counter = Counter()

    def spy(cls):
        original = cls.write

        def write(self, message):
            if isinstance(message, InvocationMessage) and message.target == "Broadcast":
                counts[cls.name] += 1
            return original(self, message)

        monkeypatch.setattr(cls, "write", write)

    spy(JsonHubProtocol)
    spy(MessagePackHubProtocol)
    async with AsyncExitStack() as stack:
        members = []
        for index in range(50):
            protocol = "json" if index % 2 else "messagepack"
            client = await stack.enter_async_context(HubCommunicator(TargetHub, protocol=protocol))
            await client.invoke("Join", "big")
            members.append(client)
        await get_hub_context(TargetHub).clients.group("big").asend("Broadcast", {"n": 1}, b"\x01")
        for client in members:
            message = await client.receive_invocation("Broadcast")
            assert message.arguments[0] == {"n": 1}
        assert counts == {"json": 1, "messagepack": 1}
        # the same from inside a hub method
        await members[0].invoke("Send", "group", "big", "x")
        await members[1].receive_invocation("Msg")
