"""Two server processes sharing one private Redis behave as one server for hubs and hub-context pushes."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from tests.servers import conformance_server, redis_server
from tests.signalr_client import RawHubClient

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def servers():
    with redis_server() as url:
        env = {"REDIS_URL": url}
        with conformance_server("daphne", env=env) as first, conformance_server("uvicorn", env=env) as second:
            yield first, second


def ws(server, hub: str) -> str:
    return server.url.replace("http://", "ws://") + "/" + hub


def http(method: str, url: str, body: dict | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, response.read().decode()


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
        with pytest.raises(TimeoutError):
            await alice.receive_invocation("ReceiveMessage", timeout=0.5)
    finally:
        await alice.close()
        await bob.close()


async def test_client_result_from_another_process(servers):
    first, second = servers
    client = await RawHubClient.open(ws(first, "testhub"))
    client.handlers["Result"] = lambda: 42
    try:
        connection_id = await client.invoke("GetCallerConnectionId")
        answer = asyncio.create_task(asyncio.to_thread(http, "GET", f"{second.url}/clientresult/{connection_id}"))
        while not answer.done():
            await client.serve(0.1)
        assert answer.result() == (200, "42")
    finally:
        await client.close()
