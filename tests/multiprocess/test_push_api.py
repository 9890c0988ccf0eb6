"""The push API across two server processes sharing a private Redis: a plain HTTP client calls one process, and
unmodified ``pysignalr`` clients connected to the other receive, join, leave and are closed.

Every wait is bounded: an expected push is awaited (``asyncio.wait_for``), never polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pysignalr.client import SignalRClient
from pysignalr.messages import CompletionMessage

from realtime.push_api import sign_token
from tests.servers import conformance_server, redis_server
from tests.signalr_client import RawHubClient

pytestmark = pytest.mark.timeout(180)

ACCESS_KEY = "conformance-access-key-0123456789abcdef0123456789"
WAIT = 15.0


@pytest.fixture(scope="module", params=["pubsub", "core"])
def servers(request, tmp_path_factory):
    """A daphne and a uvicorn process sharing one private Redis (layer, presence, user groups) and one database."""
    database = tmp_path_factory.mktemp("shared") / "db.sqlite3"
    with redis_server() as url:
        env = {"REDIS_URL": url, "CHANNEL_LAYER": request.param, "CONFORMANCE_DB": str(database)}
        with conformance_server("daphne", env=env) as first, conformance_server("uvicorn", env=env) as second:
            yield first, second


def api(server, method: str, path: str, *, query: str = "", body: Any = None) -> int:
    """Call the push API of ``server`` as any HTTP client would: a token signed for the URL; the status."""
    url = f"{server.url}/api/hubs/chathub/{path}"
    token = sign_token(ACCESS_KEY, url)
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{url}?api-version=2022-06-01{query}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def token_for(server, user: str) -> str:
    with urllib.request.urlopen(f"{server.url}/generateJwtToken?user={user}", timeout=10) as response:
        return response.read().decode()


class Receiver:
    """A running ``pysignalr`` client that records what the server calls."""

    def __init__(self, client: SignalRClient) -> None:
        self.client = client
        self.calls: asyncio.Queue[tuple[str, list[Any]]] = asyncio.Queue()

    def listen(self, *targets: str) -> None:
        for target in targets:
            self.client.on(target, lambda args, target=target: self.calls.put(((target), args)))

    async def next(self, target: str) -> list[Any]:
        """The arguments of the next call of ``target`` (others before it are skipped)."""
        async with asyncio.timeout(WAIT):
            while True:
                name, args = await self.calls.get()
                if name == target:
                    return args

    async def invoke(self, method: str, *args: Any) -> Any:
        done: asyncio.Future[CompletionMessage] = asyncio.get_running_loop().create_future()

        async def on_completion(message: CompletionMessage) -> None:
            done.set_result(message)

        await self.client.send(method, list(args), on_invocation=on_completion)
        message = await asyncio.wait_for(done, WAIT)
        assert message.error is None, message.error
        return message.result


@contextlib.asynccontextmanager
async def receiver(server, user: str | None = None) -> AsyncIterator[Receiver]:
    """A ``pysignalr`` client of ChatHub on ``server`` (as ``user``), connected and taken in by the server."""
    token = token_for(server, user) if user else None
    # pysignalr's access_token_factory is read only after the socket opened: send the token as a header instead
    client = SignalRClient(f"{server.url}/chathub", headers={"Authorization": f"Bearer {token}"} if token else None)
    handle = Receiver(client)
    handle.listen("Pushed", "PresenceChanged")
    opened = asyncio.Event()

    async def on_open() -> None:
        opened.set()

    client.on_open(on_open)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(opened.wait(), WAIT)
        assert await handle.invoke("WhoAmI") == user  # the server took it in (participants ran) and knows who
        yield handle
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT)


async def call(server, method: str, path: str, **kwargs: Any) -> int:
    return await asyncio.to_thread(api, server, method, path, **kwargs)


async def test_pushes_reach_clients_of_the_other_process(servers):
    first, second = servers
    async with receiver(second, "alice") as alice, receiver(first) as anonymous:
        await alice.invoke("JoinGroup", "room")
        assert await call(first, "POST", ":send", body={"target": "Pushed", "arguments": ["all", 1]}) == 202
        assert await alice.next("Pushed") == ["all", 1]
        assert await anonymous.next("Pushed") == ["all", 1]
        assert await call(first, "POST", "groups/room/:send", body={"target": "Pushed", "arguments": ["room"]}) == 202
        assert await alice.next("Pushed") == ["room"]
        assert await call(first, "POST", "users/alice/:send", body={"target": "Pushed", "arguments": ["you"]}) == 202
        assert await alice.next("Pushed") == ["you"]
        assert await call(first, "HEAD", "users/alice") == 200
        assert await call(first, "HEAD", "groups/room") == 200
        assert await call(first, "HEAD", "users/nobody") == 404


async def test_connection_routes_reach_a_connection_of_the_other_process(servers):
    first, second = servers
    async with receiver(second, "bob") as bob:
        await bob.invoke("JoinGroup", "bob-alone")
        (bob_id,) = await bob.invoke("GetGroupMembers", "bob-alone")
        assert await call(first, "HEAD", f"connections/{bob_id}") == 200
        assert await call(first, "PUT", f"groups/side/connections/{bob_id}") == 200
        assert await call(first, "POST", "groups/side/:send", body={"target": "Pushed", "arguments": ["side"]}) == 202
        assert await bob.next("Pushed") == ["side"]
        assert (
            await call(first, "POST", f"connections/{bob_id}/:send", body={"target": "Pushed", "arguments": [2]}) == 202
        )
        assert await bob.next("Pushed") == [2]
        assert await call(first, "DELETE", f"connections/{bob_id}/groups") == 200
        assert await call(first, "HEAD", "groups/side") == 404
        assert await call(first, "HEAD", "connections/not-a-connection") == 404


async def test_user_groups_reach_later_connections_on_any_process(servers):
    first, second = servers
    async with receiver(second, "carol") as now:
        assert await call(first, "PUT", "users/carol/groups/vip", query="&ttl=120") == 200
        assert await call(second, "HEAD", "users/carol/groups/vip") == 200  # the store is shared
        assert await call(first, "POST", "groups/vip/:send", body={"target": "Pushed", "arguments": ["now"]}) == 202
        assert await now.next("Pushed") == ["now"]
        async with receiver(first, "carol") as later:  # connects after the PUT, on the other process
            assert await call(second, "POST", "groups/vip/:send", body={"target": "Pushed", "arguments": ["v"]}) == 202
            assert await later.next("Pushed") == ["v"]
            assert await now.next("Pushed") == ["v"]
            assert await call(second, "DELETE", "users/carol/groups/vip") == 204
            assert await call(first, "HEAD", "groups/vip") == 404
            assert await call(first, "HEAD", "users/carol/groups/vip") == 404


async def test_closing_a_connection_of_the_other_process_sends_the_reason(servers):
    first, second = servers
    client = await RawHubClient.open(second.url.replace("http://", "ws://") + "/chathub")
    try:
        await client.invoke("JoinGroup", "closing")
        (connection_id,) = await client.invoke("GetGroupMembers", "closing")
        reason = urllib.parse.quote("moving you to another server")
        assert await call(first, "DELETE", f"connections/{connection_id}", query=f"&reason={reason}") == 200
        assert (await client.receive_close(timeout=WAIT)).get("error") == "moving you to another server"
    finally:
        await client.socket.close()  # the server ended it: no Close message of ours to send
