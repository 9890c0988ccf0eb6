"""The conformance server under real ASGI servers (Daphne and Uvicorn), driven over real sockets."""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from realtime.protocol.json import JsonHubProtocol
from realtime.protocol.messages import CompletionMessage, InvocationMessage
from realtime.protocol.msgpack import MessagePackHubProtocol
from tests.servers import conformance_server

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.conformance.asgi:application"
RS = "\x1e"

pytestmark = pytest.mark.timeout(60)


# -- servers ------------------------------------------------------------------------------------------


def http(method: str, url: str, body: bytes | None = None, timeout: float = 15) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


@dataclass
class Server:
    """A running conformance server, by ASGI server name."""

    name: str
    base: str

    @property
    def ws_base(self) -> str:
        return self.base.replace("http://", "ws://")


@pytest.fixture(scope="session")
def daphne_server():
    with conformance_server("daphne") as running:
        yield Server("daphne", running.url)


@pytest.fixture(scope="session")
def uvicorn_server():
    with conformance_server("uvicorn") as running:
        yield Server("uvicorn", running.url)


@pytest.fixture(params=["daphne", "uvicorn"])
def server(request) -> Server:
    return request.getfixturevalue(f"{request.param}_server")


# -- a minimal hub client over `websockets` ------------------------------------------------------------


class HubSocket:
    """A hub connection over a real WebSocket, using the sans-IO codecs on the client side."""

    _ids = itertools.count()

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = (MessagePackHubProtocol if protocol == "messagepack" else JsonHubProtocol)(
            max_message_size=None
        )
        self.decoder = self.protocol.decoder()
        self.pending: list[Any] = []

    @classmethod
    async def open(cls, url: str, protocol: str = "json", headers: dict[str, str] | None = None) -> HubSocket:
        ws = await connect(url, open_timeout=10, additional_headers=headers)
        hub = cls(ws, protocol)
        await ws.send(json.dumps({"protocol": protocol, "version": 1}) + RS)
        reply = await asyncio.wait_for(ws.recv(), 10)
        raw = reply if isinstance(reply, bytes) else reply.encode()
        assert raw.startswith(b"{}\x1e"), raw
        hub.pending.extend(hub.decoder.feed(raw[3:]))
        return hub

    async def close(self) -> None:
        await self.ws.close()

    async def send(self, message: Any) -> None:
        await self.ws.send(self.protocol.write(message))

    async def next(self, wanted, timeout: float = 10) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                for message in self.pending:
                    if wanted(message):
                        self.pending.remove(message)
                        return message
                self.pending.extend(self.decoder.feed(await self.ws.recv()))

    async def invoke(self, target: str, *args: Any) -> Any:
        invocation_id = f"c{next(self._ids)}"
        await self.send(InvocationMessage(invocation_id=invocation_id, target=target, arguments=list(args)))
        completion = await self.next(lambda m: isinstance(m, CompletionMessage) and m.invocation_id == invocation_id)
        assert completion.error is None, completion.error
        return completion.result

    async def invocation(self, target: str) -> InvocationMessage:
        return await self.next(lambda m: isinstance(m, InvocationMessage) and m.target == target)


async def negotiate(server: Server, path: str, query: str = "negotiateVersion=1") -> dict[str, Any]:
    status, body = await asyncio.to_thread(http, "POST", f"{server.base}{path}/negotiate?{query}")
    assert status == 200, body
    return json.loads(body)


def refused_status(server: Server) -> int:
    """Daphne turns a close before accept into 403; Uvicorn supports the denial-response extension."""
    return 403 if server.name == "daphne" else 404


# -- tests ----------------------------------------------------------------------------------------------


async def test_negotiate_then_websocket(server):
    negotiated = await negotiate(server, "/testHub")
    assert negotiated["negotiateVersion"] == 1
    assert negotiated["availableTransports"][0] == {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
    url = f"{server.ws_base}/testhub?id={negotiated['connectionToken']}"
    hub = await HubSocket.open(url)
    try:
        assert await hub.invoke("GetCallerConnectionId") == negotiated["connectionId"]
        with pytest.raises(InvalidStatus) as reused:
            await connect(url, open_timeout=10)
        assert reused.value.response.status_code == (403 if server.name == "daphne" else 409)
    finally:
        await hub.close()
    with pytest.raises(InvalidStatus) as after_close:
        await connect(url, open_timeout=10)
    # Refused either way: 404 once the server has forgotten the connection, 409 while it is still ending it
    # (uvicorn answers the client's close before the app sees the disconnect; the test cannot wait for that).
    assert after_close.value.response.status_code in (refused_status(server), 403 if server.name == "daphne" else 409)


async def test_unknown_token_is_refused(server):
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{server.ws_base}/testhub?id=not-a-token", open_timeout=10)
    assert refused.value.response.status_code == refused_status(server)


async def test_skip_negotiation(server):
    hub = await HubSocket.open(f"{server.ws_base}/chathub")
    try:
        assert await hub.invoke("WhoAmI") is None
    finally:
        await hub.close()


async def test_session_cookie_signs_in_a_websocket(server):
    """A browser signed in with Django's session (no token) is that user on the hub, by the cookie alone; a
    session key the server does not know, or none, is anonymous."""
    status, body = await asyncio.to_thread(http, "POST", f"{server.base}/sessionLogin?user=erin-{server.name}", b"")
    assert status == 200, body
    cookie = json.loads(body)["cookie"]
    signed_in = await HubSocket.open(f"{server.ws_base}/chathub", headers={"Cookie": f"theme=dark; {cookie}"})
    unknown = await HubSocket.open(f"{server.ws_base}/chathub", headers={"Cookie": "sessionid=" + "k" * 32})
    try:
        assert await signed_in.invoke("WhoAmI") == f"erin-{server.name}"
        assert await unknown.invoke("WhoAmI") is None
    finally:
        await signed_in.close()
        await unknown.close()


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_echo(server, protocol):
    hub = await HubSocket.open(f"{server.ws_base}/testhub", protocol)
    try:
        assert await hub.invoke("Echo", "hi") == "hi"
        assert await hub.invoke("Echo", {"a": [1, 2, None]}) == {"a": [1, 2, None]}
    finally:
        await hub.close()


async def test_client_result_from_a_view(server):
    hub = await HubSocket.open(f"{server.ws_base}/testhub")
    try:
        connection_id = await hub.invoke("GetCallerConnectionId")
        response = asyncio.ensure_future(asyncio.to_thread(http, "GET", f"{server.base}/clientresult/{connection_id}"))
        request = await hub.invocation("Result")
        assert request.invocation_id is not None
        await hub.send(CompletionMessage.with_result(request.invocation_id, 42))
        assert await response == (200, b"42")
    finally:
        await hub.close()


async def test_pushes_to_group_and_all(server):
    group = f"room-{server.name}"
    member = await HubSocket.open(f"{server.ws_base}/chathub")
    outsider = await HubSocket.open(f"{server.ws_base}/chathub", "messagepack")
    try:
        assert await member.invoke("JoinGroup", group) is None
        body = json.dumps({"message": "to the group"}).encode()
        assert (await asyncio.to_thread(http, "POST", f"{server.base}/push/group/{group}", body))[0] == 202
        assert (await member.invocation("ReceiveMessage")).arguments == ["server", "to the group"]
        body = json.dumps({"message": "to all"}).encode()
        assert (await asyncio.to_thread(http, "POST", f"{server.base}/push/all", body))[0] == 202
        assert (await member.invocation("ReceiveMessage")).arguments == ["server", "to all"]
        assert (await outsider.invocation("ReceiveMessage")).arguments == ["server", "to all"]
    finally:
        await member.close()
        await outsider.close()


async def test_client_vanishing_without_close_frame_is_cleaned_up(server):
    group = f"vanish-{server.name}"
    survivor = await HubSocket.open(f"{server.ws_base}/chathub")
    ghost = await HubSocket.open(f"{server.ws_base}/chathub")
    try:
        await survivor.invoke("JoinGroup", group)
        (me,) = (await survivor.invocation("PresenceChanged")).arguments[0]["joined"]
        await ghost.invoke("JoinGroup", group)
        (ghost_id,) = (await survivor.invocation("PresenceChanged")).arguments[0]["joined"]
        ghost.ws.transport.abort()  # TCP reset: no close frame, no Close message
        # ChatHub tracks presence: the server announces the ghost's end once it has cleaned it up
        left = (await survivor.invocation("PresenceChanged")).arguments[0]
        assert left == {"group": group, "joined": [], "left": [ghost_id]}
        assert await survivor.invoke("GetGroupMembers", group) == [me]
        for text in ("after the ghost left", "and again"):
            body = json.dumps({"message": text}).encode()
            assert (await asyncio.to_thread(http, "POST", f"{server.base}/push/group/{group}", body))[0] == 202
            assert (await survivor.invocation("ReceiveMessage")).arguments == ["server", text]
        await survivor.invoke("SendToGroup", group, "from a member")
        assert (await survivor.invocation("ReceiveMessage")).arguments[1] == "from a member"
        newcomer = await HubSocket.open(f"{server.ws_base}/chathub")
        try:
            await newcomer.invoke("JoinGroup", group)
            await survivor.invoke("SendToGroup", group, "welcome")
            assert (await newcomer.invocation("ReceiveMessage")).arguments[1] == "welcome"
        finally:
            await newcomer.close()
    finally:
        await survivor.close()
