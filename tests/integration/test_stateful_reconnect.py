"""Stateful reconnect in one process (protocol.md §13), driven frame by frame as the official clients do.

The client here is the test itself: it negotiates with ``useStatefulReconnect=true``, shakes hands with version 2,
drops its socket (an abnormal close), and opens a new one for the same token, then checks what the server
replays, what it drops as duplicates, and how it refuses what it must refuse.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest
from channels.routing import URLRouter
from channels.testing import HttpCommunicator, WebsocketCommunicator

from realtime import local
from realtime.context import get_hub_context
from realtime.hubs import Hub
from realtime.routing import hub_routes
from realtime.transports import claim

RS = "\x1e"


@dataclass(frozen=True)
class FakeUser:
    pk: int
    is_authenticated: bool = True


class ResumeHub(Hub):
    ended: asyncio.Event | None = None
    connects = 0

    async def on_connected(self) -> None:
        type(self).connects += 1

    async def on_disconnected(self, exception: Exception | None) -> None:
        if type(self).ended is not None:
            type(self).ended.set()

    async def Join(self, group: str) -> str:  # noqa: N802
        await self.groups.add(self.context.connection_id, group)
        return "joined"

    async def Count(self) -> int:  # noqa: N802
        self.context.items["count"] = self.context.items.get("count", 0) + 1
        return self.context.items["count"]


HTTP, WS = (URLRouter(routes) for routes in hub_routes({"resume": ResumeHub}))


async def negotiate(user: FakeUser | None = None, *, stateful: bool = True) -> str:
    query = "negotiateVersion=1" + ("&useStatefulReconnect=true" if stateful else "")
    communicator = HttpCommunicator(HTTP, "POST", "/resume/negotiate")
    communicator.scope["query_string"] = query.encode()
    if user is not None:
        communicator.scope["user"] = user
    body = json.loads((await communicator.get_response(timeout=5))["body"])
    assert body.get("useStatefulReconnect", False) is stateful
    return body["connectionToken"]


class Socket:
    """One WebSocket of the test client: JSON frames in and out."""

    def __init__(self, token: str, user: FakeUser | None = None) -> None:
        self.ws = WebsocketCommunicator(WS, f"/resume?id={token}")
        self.ws.scope["extensions"] = {"websocket.http.response": {}}  # refusals answer with their HTTP status
        if user is not None:
            self.ws.scope["user"] = user
        self.pending: list[dict] = []

    async def connect(self) -> tuple[bool, int | None]:
        """``(True, None)`` when accepted, ``(False, status)`` when refused."""
        await self.ws.send_input({"type": "websocket.connect"})
        output = await self.ws.receive_output(5)
        if output["type"] == "websocket.http.response.start":
            return False, output["status"]
        return output["type"] == "websocket.accept", None

    async def send(self, *messages: dict) -> None:
        await self.ws.send_to(text_data="".join(json.dumps(m) + RS for m in messages))

    async def next(self, timeout: float = 5) -> dict:
        while not self.pending:
            output = await self.ws.receive_output(timeout)
            if output["type"] == "websocket.close":
                return {"closed": output.get("code")}
            self.pending.extend(json.loads(part) for part in output["text"].split(RS) if part)
        return self.pending.pop(0)

    async def next_not_ping(self, timeout: float = 5) -> dict:
        while (message := await self.next(timeout)).get("type") == 6:
            pass
        return message

    async def drop(self) -> None:
        """The network fails: the server sees an abnormal close."""
        await self.ws.send_input({"type": "websocket.disconnect", "code": 1006})
        await self.ws.wait(1)


async def open_stateful(user: FakeUser | None = None) -> tuple[str, Socket]:
    token = await negotiate(user)
    socket = Socket(token, user)
    assert (await socket.connect())[0]
    await socket.send({"protocol": "json", "version": 2})
    assert await socket.next() == {}
    return token, socket


def invocation(invocation_id: str, target: str, *arguments) -> dict:
    return {"type": 1, "invocationId": invocation_id, "target": target, "arguments": list(arguments)}


@pytest.fixture(autouse=True)
def hub_state():
    ResumeHub.ended = asyncio.Event()
    ResumeHub.connects = 0
    yield


async def test_a_new_socket_resumes_with_what_was_sent_meanwhile_and_drops_replayed_calls():
    token, first = await open_stateful()
    await first.send(invocation("1", "Join", "room"))
    assert await first.next_not_ping() == {"type": 3, "invocationId": "1", "result": "joined"}
    await first.drop()
    for n in range(3):  # sent while no socket carries the connection
        await get_hub_context(ResumeHub).clients.group("room").asend("Msg", n)
    assert not ResumeHub.ended.is_set() and len(local.table().connections) == 1

    second = Socket(token)
    assert (await second.connect())[0]  # no 409: the token resumes its connection
    assert await second.next() == {"type": 9, "sequenceId": 1}  # nothing was acknowledged: all is replayed
    assert await second.next() == {"type": 3, "invocationId": "1", "result": "joined"}
    for n in range(3):
        assert await second.next() == {"type": 1, "target": "Msg", "arguments": [n]}
    # the client replays its unacknowledged call: processed before the drop, so dropped now
    await second.send({"type": 9, "sequenceId": 1}, invocation("1", "Join", "room"), invocation("2", "Count"))
    assert await second.next_not_ping() == {"type": 3, "invocationId": "2", "result": 1}
    assert ResumeHub.connects == 1  # one continuous connection: no second on_connected
    ack = await second.next_not_ping(timeout=5)
    assert ack == {"type": 8, "sequenceId": 2}  # the Join and the Count, at most once a second
    await second.ws.disconnect(1000)
    await asyncio.wait_for(ResumeHub.ended.wait(), 5)  # a clean close ends it at once


async def test_acks_free_the_buffer_and_the_replay_starts_after_them():
    token, first = await open_stateful()
    for n in range(1, 4):
        await first.send(invocation(str(n), "Count"))
        assert (await first.next_not_ping())["result"] == n
    await first.send({"type": 8, "sequenceId": 2})  # the client processed the first two Completions
    await first.send(invocation("4", "Count"))  # a round trip: the Ack was handled before this answer
    assert (await first.next_not_ping())["result"] == 4
    await first.drop()
    second = Socket(token)
    assert (await second.connect())[0]
    assert await second.next() == {"type": 9, "sequenceId": 3}
    assert [(await second.next())["result"] for _ in range(2)] == [3, 4]
    await second.ws.disconnect(1000)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": 8, "sequenceId": 5}, "Ack of sequence id 5, but the server sent sequence ids up to 1."),
        ({"type": 9, "sequenceId": 3}, "Sequence id 3 out of range: the server processed sequence ids up to 1."),
        ({"type": 9, "sequenceId": 0}, "Sequence id 0 out of range: the server processed sequence ids up to 1."),
    ],
)
async def test_an_ack_or_sequence_out_of_range_closes_with_the_reason(message, error):
    _, socket = await open_stateful()
    await socket.send(invocation("1", "Count"))
    assert (await socket.next_not_ping())["result"] == 1
    await socket.send(message)
    close = await socket.next_not_ping()
    assert close == {"type": 7, "error": f"Connection closed with an error. InvalidDataException: {error}"}
    assert await socket.next() == {"closed": 1000}
    await socket.ws.send_input({"type": "websocket.disconnect", "code": 1000})  # as the server reports it
    await asyncio.wait_for(ResumeHub.ended.wait(), 5)  # ended, not waiting for a reconnect


async def test_a_token_of_another_user_is_refused_and_the_connection_waits_on():
    owner, intruder = FakeUser(1), FakeUser(2)
    token, first = await open_stateful(owner)
    await first.drop()
    assert await Socket(token, intruder).connect() == (False, 403)
    second = Socket(token, owner)
    assert (await second.connect())[0]
    assert await second.next() == {"type": 9, "sequenceId": 1}
    await second.ws.disconnect(1000)


async def test_after_the_window_the_connection_ends_and_its_token_is_gone(settings):
    settings.REALTIME = {"DISCONNECT_TIMEOUT": 0.3}
    token, first = await open_stateful()
    await first.send(invocation("1", "Join", "room"))
    assert (await first.next_not_ping())["result"] == "joined"
    await first.drop()
    await asyncio.wait_for(ResumeHub.ended.wait(), 5)  # on_disconnected, as for any disconnect
    assert await Socket(token).connect() == (False, 404)
    assert not local.table().connections and not local.table().members
    assert claim.held(token) is None


async def test_a_second_socket_while_the_first_still_looks_open_takes_its_place():
    token, first = await open_stateful()
    await first.send(invocation("1", "Count"))
    assert (await first.next_not_ping())["result"] == 1
    second = Socket(token)  # the server has not noticed the first one is dead (a cut the TCP stack hides)
    assert (await second.connect())[0]
    assert await first.next_not_ping() == {"closed": 1000}  # closed by the server
    assert await second.next() == {"type": 9, "sequenceId": 1}
    assert (await second.next())["result"] == 1
    await second.send({"type": 9, "sequenceId": 2}, invocation("2", "Count"))
    assert (await second.next_not_ping())["result"] == 2
    await first.ws.send_input({"type": "websocket.disconnect", "code": 1006})  # its end changes nothing
    await second.send(invocation("3", "Count"))
    assert (await second.next_not_ping())["result"] == 3
    assert not ResumeHub.ended.is_set()
    await second.ws.disconnect(1000)


async def test_without_the_grant_a_second_socket_is_still_refused():
    token = await negotiate(stateful=False)
    first = Socket(token)
    assert (await first.connect())[0]
    await first.send({"protocol": "json", "version": 1})
    assert await first.next() == {}
    assert await Socket(token).connect() == (False, 409)
    await first.ws.disconnect(1000)


async def test_with_the_durable_store_a_frame_kept_during_a_replay_is_written_once(settings, monkeypatch):
    """A frame that a writer keeps while a new socket's replay runs is written by the replay, and only there.

    With the durable store, keeping a frame awaits Redis after the frame joined the replay buffer: the replay
    could write it meanwhile, and the writer wrote it again after, a second copy the client numbered as the next
    message (every later sequence id off by one: a duplicate, then an Ack beyond the last id sent, a lost frame).
    """
    from realtime.resume_store import RedisResumeStore
    from realtime.transports.websocket import WebsocketTransport
    from tests.servers import redis_server

    with redis_server() as url:
        settings.REALTIME = {"REDIS_URL": url, "STATEFUL_RECONNECT_STORE": "realtime.resume_store.RedisResumeStore"}
        token, first = await open_stateful()
        await first.send(invocation("1", "Join", "room"))
        assert await first.next_not_ping() == {"type": 3, "invocationId": "1", "result": "joined"}
        await first.drop()

        replay_may_go, keeping, keep_may_return = asyncio.Event(), asyncio.Event(), asyncio.Event()
        send, keep = WebsocketTransport.send, RedisResumeStore.keep

        async def held_send(self, frame):  # the replay stops after its Sequence until the test lets it go on
            if '"type":9' in frame:
                await send(self, frame)
                await replay_may_go.wait()
                return
            await send(self, frame)

        async def held_keep(self, token, owner, sequence_id, frame, log, call):
            kept = await keep(self, token, owner, sequence_id, frame, log, call)
            if "during" in frame:
                keeping.set()
                await keep_may_return.wait()
            return kept

        monkeypatch.setattr(WebsocketTransport, "send", held_send)
        monkeypatch.setattr(RedisResumeStore, "keep", held_keep)
        second = Socket(token)
        assert (await second.connect())[0]
        assert await second.next() == {"type": 9, "sequenceId": 1}  # the replay is under way, held
        await get_hub_context(ResumeHub).clients.group("room").asend("Msg", "during")
        await asyncio.wait_for(keeping.wait(), 5)  # kept in the buffer, its Redis write not answered yet
        replay_may_go.set()
        assert await second.next() == {"type": 3, "invocationId": "1", "result": "joined"}
        assert await second.next() == {"type": 1, "target": "Msg", "arguments": ["during"]}  # by the replay
        keep_may_return.set()
        await get_hub_context(ResumeHub).clients.group("room").asend("Msg", "after")
        assert await second.next_not_ping() == {"type": 1, "target": "Msg", "arguments": ["after"]}
        await second.ws.disconnect(1000)
        await asyncio.wait_for(ResumeHub.ended.wait(), 5)


async def test_a_slow_owner_that_was_taken_over_lets_go_without_a_presence_leave(settings, monkeypatch):
    """The owner did not answer a relay in time (a backlogged layer) and another process took the connection over
    from the durable store: at its next write this process learns it and lets the connection go. That must leave
    the connection's presence alone (the entries are the new owner's to keep) and announce no ``left``."""
    from realtime.presence import presence
    from realtime.resume_store import RedisResumeStore
    from tests.servers import redis_server

    monkeypatch.setattr(ResumeHub, "track_presence", True, raising=False)
    with redis_server() as url:
        settings.REALTIME = {
            "REDIS_URL": url,
            "STATEFUL_RECONNECT_STORE": "realtime.resume_store.RedisResumeStore",
            "PRESENCE_BACKEND": "realtime.presence.redis.RedisPresence",
        }
        observer = Socket(await negotiate(stateful=False))
        assert (await observer.connect())[0]
        await observer.send({"protocol": "json", "version": 1})
        assert await observer.next() == {}
        await observer.send(invocation("1", "Join", "room"))
        assert (await observer.next_not_ping())["target"] == "PresenceChanged"  # its own join, then the result
        assert await observer.next_not_ping() == {"type": 3, "invocationId": "1", "result": "joined"}
        token, mover = await open_stateful()
        await mover.send(invocation("1", "Join", "room"))
        assert (await mover.next_not_ping())["target"] == "PresenceChanged"  # its own join, then the result
        assert await mover.next_not_ping() == {"type": 3, "invocationId": "1", "result": "joined"}
        diffs = [await observer.next_not_ping()]
        assert diffs[0]["target"] == "PresenceChanged"
        moved = diffs[0]["arguments"][0]["joined"][0]
        connection = local.find(moved)
        assert connection is not None and connection.resume is not None
        assert await RedisResumeStore().take(token, connection.resume.owner, "another-process") is not None

        await get_hub_context(ResumeHub).clients.group("room").asend("Msg", "x")  # its keep fails: evicted
        for _ in range(10):
            if "closed" in await mover.next_not_ping():
                break  # the eviction ran to its end (the socket is closed last)
        else:
            pytest.fail("the taken-over connection was not let go")
        await get_hub_context(ResumeHub).clients.group("room").asend("Msg", "marker")
        seen = []
        for _ in range(10):
            seen.append(await observer.next_not_ping())
            if seen[-1].get("arguments") == ["marker"]:
                break
        assert [m for m in seen if m.get("target") == "PresenceChanged"] == []
        async with presence().session():
            assert moved in await get_hub_context(ResumeHub).presence.connection_ids("room")
        await observer.ws.disconnect(1000)
