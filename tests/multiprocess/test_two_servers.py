"""Two server processes sharing one private Redis behave as one server for hubs and hub-context pushes."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest

from tests.servers import conformance_server, redis_server
from tests.signalr_client import RawHubClient

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module", params=["core", "pubsub"])
def servers(request, tmp_path_factory):
    """A daphne and a uvicorn process sharing one private Redis and one database, for each redis layer."""
    database = tmp_path_factory.mktemp("shared") / "db.sqlite3"
    with redis_server() as url:
        env = {"REDIS_URL": url, "CHANNEL_LAYER": request.param, "CONFORMANCE_DB": str(database)}
        with conformance_server("daphne", env=env) as first, conformance_server("uvicorn", env=env) as second:
            yield first, second


def ws(server, hub: str) -> str:
    return server.url.replace("http://", "ws://") + "/" + hub


def http(method: str, url: str, body: dict | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, response.read().decode()


async def fence_then_nothing_before(client: RawHubClient, home) -> None:
    """Assert that ``client`` (connected to ``home``) got no ReceiveMessage from the sends before this call.

    A push to all from ``home`` goes after those sends into the one layer channel of ``home``, which hands
    events to its connections in arrival order: anything sent to ``client`` before arrives before it.
    """
    fence = f"fence {id(client)}"
    status, _ = await asyncio.to_thread(http, "POST", f"{home.url}/push/all", {"message": fence})
    assert status == 202
    assert await client.receive_invocation("ReceiveMessage") == ["server", fence]


async def test_groups_and_pushes_cross_processes(servers):
    first, second = servers
    alice = await RawHubClient.open(ws(first, "chathub"))
    bob = await RawHubClient.open(ws(second, "chathub"))
    try:
        assert await alice.invoke("JoinGroup", "room") is None
        assert await bob.invoke("JoinGroup", "room") is None
        # a hub method on process 2 reaches a group member on process 1
        await bob.invoke("SendToGroup", "room", "from bob")
        assert (await alice.receive_invocation("ReceiveMessage"))[1] == "from bob"
        assert (await bob.receive_invocation("ReceiveMessage"))[1] == "from bob"
        # a sync view on process 2 pushes through the hub context to both processes
        status, _ = await asyncio.to_thread(http, "POST", f"{second.url}/push/group/room", {"message": "hi"})
        assert status == 202
        assert await alice.receive_invocation("ReceiveMessage") == ["server", "hi"]
        assert await bob.receive_invocation("ReceiveMessage") == ["server", "hi"]
        # "others" from process 1 reaches process 2 but not the caller
        await alice.invoke("SendToOthers", "psst")
        assert (await bob.receive_invocation("ReceiveMessage"))[1] == "psst"
        await alice.invoke("LeaveGroup", "room")
        status, _ = await asyncio.to_thread(http, "POST", f"{first.url}/push/group/room", {"message": "again"})
        assert await bob.receive_invocation("ReceiveMessage") == ["server", "again"]
        await fence_then_nothing_before(alice, first)
    finally:
        await alice.close()
        await bob.close()


async def test_client_result_from_another_process(servers):
    first, second = servers
    client = await RawHubClient.open(ws(first, "testhub"))
    client.handlers["Result"] = lambda: 42
    try:
        connection_id = await client.invoke("GetCallerConnectionId")
        answer = asyncio.to_thread(http, "GET", f"{second.url}/clientresult/{connection_id}")
        assert await client.serve_until(answer, timeout=20) == (200, "42")
    finally:
        await client.close()


def raw(method: str, url: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body if method == "POST" else None, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


async def test_long_polling_alternating_processes(servers):
    """Negotiate on one process, then polls and sends alternate between both: one connection throughout."""
    first, second = servers
    status, body = await asyncio.to_thread(raw, "POST", f"{first.url}/testhub/negotiate?negotiateVersion=1")
    token = json.loads(body)["connectionToken"]
    urls = [f"{server.url}/testhub?id={token}" for server in (second, first)]
    assert await asyncio.to_thread(raw, "GET", urls[0]) == (200, b"")  # first poll: starts the owner on process 2
    handshake = b'{"protocol":"json","version":1}\x1e'
    assert (await asyncio.to_thread(raw, "POST", urls[1], handshake))[0] == 200
    assert await asyncio.to_thread(raw, "GET", urls[1]) == (200, b"{}\x1e")
    for index in range(4):
        invocation = json.dumps({"type": 1, "invocationId": str(index), "target": "Echo", "arguments": [index]})
        assert (await asyncio.to_thread(raw, "POST", urls[index % 2], invocation.encode() + b"\x1e"))[0] == 200
        status, body = await asyncio.to_thread(raw, "GET", urls[(index + 1) % 2])
        assert status == 200
        assert json.loads(body.rstrip(b"\x1e")) == {"type": 3, "invocationId": str(index), "result": index}
    assert await asyncio.to_thread(raw, "DELETE", urls[1]) == (202, b"")
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(raw, "GET", urls[0])
    assert refused.value.code == 404


async def test_sse_posts_arrive_at_the_other_process(servers):
    """The SSE GET on one process owns the connection; POSTs to the other process reach it."""
    first, second = servers
    status, body = await asyncio.to_thread(raw, "POST", f"{first.url}/testhub/negotiate?negotiateVersion=1")
    token = json.loads(body)["connectionToken"]
    reader, writer = await asyncio.open_connection("127.0.0.1", int(first.url.rsplit(":", 1)[1]))
    writer.write(f"GET /testhub?id={token} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert b"200" in head.split(b"\r\n")[0] and b"text/event-stream" in head
    post = f"{second.url}/testhub?id={token}"
    await asyncio.to_thread(raw, "POST", post, b'{"protocol":"json","version":1}\x1e')
    await asyncio.to_thread(raw, "POST", post, b'{"type":1,"invocationId":"1","target":"Echo","arguments":["x"]}\x1e')
    received = b""
    async with asyncio.timeout(10):
        while b'"result":"x"' not in received:
            received += await reader.read(4096)
    assert b"data: {}\x1e\r\n\r\n" in received
    writer.close()


async def test_users_across_processes(servers):
    """Connections of one user on both processes receive user pushes from either process."""
    first, second = servers
    _, token = await asyncio.to_thread(http, "GET", f"{first.url}/generateJwtToken?user=multi")
    tabs = [await RawHubClient.open(ws(server, f"chathub?access_token={token}")) for server in (first, second)]
    stranger = await RawHubClient.open(ws(first, "chathub"))
    try:
        assert [await tab.invoke("WhoAmI") for tab in tabs] == ["multi", "multi"]
        status, _ = await asyncio.to_thread(http, "POST", f"{second.url}/push/user/multi", {"message": "for you"})
        assert status == 202
        for tab in tabs:
            assert await tab.receive_invocation("ReceiveMessage") == ["server", "for you"]
        await stranger.invoke("SendToUser", "multi", "hello")
        for tab in tabs:
            assert (await tab.receive_invocation("ReceiveMessage"))[1] == "hello"
        await fence_then_nothing_before(stranger, first)
    finally:
        for client in [*tabs, stranger]:
            await client.close()
