"""Every per-connection bound holds against one hostile client, on real daphne and uvicorn processes.

Each test starts ``tests.hostile.app`` (the conformance server plus ``/boundshub``), keeps a bystander
connection doing Echo round trips, attacks one bound from one connection, and then checks: what the
attacker got (a refusal or a Close that names the bound), the server's RSS growth at the peak and after
the attacker left, and the bystander's slowest round trip.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.servers import REPO_ROOT, Server, conformance_server
from tests.signalr_client import RawHubClient

pytestmark = pytest.mark.timeout(180)
SERVERS = pytest.mark.parametrize("server_kind", ["daphne", "uvicorn"])
RS = "\x1e"
APP = "tests.hostile.app:application"
GROWTH_LIMIT_MB = 64
BYSTANDER_LIMIT_S = 0.100


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def frame(message: dict[str, Any]) -> str:
    return json.dumps(message) + RS


def invocation(invocation_id: str | None, target: str, *args: Any, **extra: Any) -> str:
    message: dict[str, Any] = {"type": 1, "target": target, "arguments": list(args), **extra}
    if invocation_id is not None:
        message["invocationId"] = invocation_id
    return frame(message)


class Watch:
    """The server's RSS, sampled while an attack runs, and a bystander's Echo round trips.

    The bystander is a process of its own (``tests.hostile.bystander``), so what it measures is the server's
    fairness to it, not the load of this process.
    """

    def __init__(self, server: Server) -> None:
        self.pid = server.process.pid
        self.url = server.url.replace("http://", "ws://") + "/boundshub"
        self.baseline = rss_mb(self.pid)
        self.peak = self.baseline
        self.slowest = 0.0
        self.round_trips = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample)
        self._bystander: subprocess.Popen[str] | None = None

    async def __aenter__(self) -> Watch:
        self._bystander = subprocess.Popen(
            [sys.executable, "-m", "tests.hostile.bystander", self.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
        )
        assert self._bystander.stdout is not None
        assert await asyncio.to_thread(self._bystander.stdout.readline) == "ready\n"
        self._sampler.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.to_thread(self._sampler.join, 30)
        self.peak = max(self.peak, rss_mb(self.pid))
        bystander = self._bystander
        assert bystander is not None and bystander.stdin is not None and bystander.stdout is not None
        # the server must still answer the bystander: wait for a round trip (one made during the attack counts;
        # an attack that ended within the bystander's first 20 ms pause waits for the next one)
        assert await asyncio.wait_for(asyncio.to_thread(bystander.stdout.readline), 30) == "rt\n"
        bystander.stdin.close()
        rest = await asyncio.wait_for(asyncio.to_thread(bystander.stdout.read), 30)
        await asyncio.to_thread(bystander.wait, 30)
        figures = json.loads(rest.strip().splitlines()[-1])
        self.slowest, self.round_trips = figures["slowest"], figures["round_trips"]

    def _sample(self) -> None:
        while not self._stop.wait(0.05):  # a measurement, not a wait: it ends with the attack
            self.peak = max(self.peak, rss_mb(self.pid))

    def report(self, name: str, server_kind: str, after: float) -> str:
        return (
            f"\n{name} under {server_kind}: RSS {self.baseline:.1f} MB before, peak +{self.peak - self.baseline:.1f} "
            f"MB, +{after - self.baseline:.1f} MB after the attacker left; bystander slowest round trip "
            f"{self.slowest * 1000:.1f} ms over {self.round_trips}"
        )

    def check(self, after: float, *, memory: bool = True) -> None:
        assert self.round_trips > 0
        if memory:
            assert self.peak - self.baseline < GROWTH_LIMIT_MB
            assert after - self.baseline < GROWTH_LIMIT_MB / 4, "memory not given back after the attacker left"
        assert self.slowest < BYSTANDER_LIMIT_S


@asynccontextmanager
async def bounds_server(server_kind: str) -> AsyncIterator[tuple[Server, RawHubClient, str]]:
    """The server, a bystander that watches departures, and the hub's WebSocket URL."""
    with conformance_server(server_kind, app=APP) as server:
        url = server.url.replace("http://", "ws://") + "/boundshub"
        bystander = await RawHubClient.open(url, ping_every=1.0)  # the hub's client timeout is 3 s
        await bystander.invoke("Watch")
        for _ in range(20):  # warm the server's code paths before the baseline
            await bystander.invoke("Echo", "warm")
        try:
            yield server, bystander, url
        finally:
            await bystander.close()


async def attacker(url: str) -> ClientConnection:
    socket = await connect(url, compression=None, max_size=None, open_timeout=10)
    await socket.send(frame({"protocol": "json", "version": 1}))
    assert await asyncio.wait_for(socket.recv(), 10) == "{}" + RS
    return socket


async def messages(socket: ClientConnection, until: Callable[[dict[str, Any]], bool], timeout: float = 30) -> list:
    """Read messages until one satisfies ``until`` (included); raises on timeout or close."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            data = await socket.recv()
            for part in (data if isinstance(data, str) else data.decode()).split(RS):
                if part:
                    found.append(json.loads(part))
                    if until(found[-1]):
                        return found


async def leave(socket: ClientConnection, bystander: RawHubClient, server: Server) -> float:
    """Drop the attacker without a Close, wait until the server ended its connection; the RSS then."""
    socket.transport.abort()
    await bystander.receive_invocation("Left", timeout=30)
    return rss_mb(server.process.pid)


@SERVERS
async def test_invocations_behind_a_held_slot(server_kind):
    """20,000 invocations of 30 KB behind a slot that never frees: Daphne closes, uvicorn pushes back."""
    payload = "x" * 30_000
    async with bounds_server(server_kind) as (server, bystander, url):
        socket = await attacker(url)
        await socket.send(invocation("hold", "Hold"))
        await messages(socket, lambda m: m.get("target") == "Holding")
        sent = 0
        closed: ConnectionClosed | None = None
        async with Watch(server) as watch:
            deadline = time.monotonic() + 10
            try:
                for index in range(20_000):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    await asyncio.wait_for(socket.send(invocation(str(index), "Echo", payload)), remaining)
                    sent += 1
            except TimeoutError:
                pass  # the server stopped reading, and the socket's buffers are full: pushed back
            except ConnectionClosed as exc:
                closed = exc
        if server_kind == "daphne":  # it cannot stop reading: the connection ends, saying why
            assert closed is not None or sent == 20_000
            received = await messages(socket, lambda m: m.get("type") == 7)
            assert "MAX_QUEUED_INVOCATIONS" in received[-1]["error"], received[-1]
            assert not [m for m in received if m.get("type") == 3], "a queued invocation ran"
        else:
            assert closed is None and sent < 20_000, f"uvicorn read all {sent} invocations"
        after = await leave(socket, bystander, server)
    print(watch.report(f"{sent} invocations of 30 KB behind a held slot", server_kind, after))
    watch.check(after)


@SERVERS
async def test_server_streams(server_kind):
    """30,000 endless server streams: MAX_STREAMS (100) run, every other one is refused."""
    async with bounds_server(server_kind) as (server, bystander, url):
        socket = await attacker(url)
        async with Watch(server) as watch:
            for start in range(0, 30_000, 500):
                await socket.send(
                    "".join(
                        frame({"type": 4, "invocationId": str(i), "target": "Forever", "arguments": []})
                        for i in range(start, start + 500)
                    )
                )
            received = await messages(socket, lambda m: m.get("type") == 3 and m.get("invocationId") == "29999")
        refused = [m for m in received if m.get("type") == 3]
        assert len(refused) == 29_900
        assert "already has 100 streams running (MAX_STREAMS)" in refused[0]["error"]
        assert len({m["invocationId"] for m in received if m.get("type") == 2}) == 100
        after = await leave(socket, bystander, server)
    print(watch.report("30,000 server streams", server_kind, after))
    watch.check(after)


@SERVERS
async def test_upload_streams(server_kind):
    """30,000 upload streams that are never completed: MAX_UPLOAD_STREAMS (100) open, the rest refused."""
    async with bounds_server(server_kind) as (server, bystander, url):
        socket = await attacker(url)
        async with Watch(server) as watch:
            for start in range(0, 30_000, 500):
                await socket.send(
                    "".join(invocation(str(i), "Upload", streamIds=[f"s{i}"]) for i in range(start, start + 500))
                )
            received = await messages(socket, lambda m: m.get("type") == 3 and m.get("invocationId") == "29999")
        refused = [m for m in received if m.get("type") == 3]
        assert len(refused) == 29_900
        assert "more than 100 upload streams open (MAX_UPLOAD_STREAMS)" in refused[0]["error"]
        after = await leave(socket, bystander, server)
    print(watch.report("30,000 upload streams", server_kind, after))
    watch.check(after)


@SERVERS
async def test_groups(server_kind):
    """10,000 groups joined by one connection of a hub without presence: MAX_GROUPS (100) joined."""
    async with bounds_server(server_kind) as (server, bystander, url):
        socket = await attacker(url)
        async with Watch(server) as watch:
            window = 32  # within MAX_QUEUED_INVOCATIONS: a pipelining client, not a flood
            completions: list[dict[str, Any]] = []
            for start in range(0, 10_000, window):
                ids = [str(i) for i in range(start, start + window)]
                await socket.send("".join(invocation(i, "JoinGroup", f"group-{i}") for i in ids))
                completions += [
                    m
                    for m in await messages(socket, lambda m, last=ids[-1]: m.get("invocationId") == last)
                    if m.get("type") == 3
                ]
        joined = [m for m in completions if "error" not in m]
        assert len(joined) == 100
        assert "is already in 100 groups (MAX_GROUPS)" in completions[-1]["error"]
        after = await leave(socket, bystander, server)
    print(watch.report("10,000 groups", server_kind, after))
    watch.check(after)


@SERVERS
async def test_pending_client_results(server_kind):
    """1,000 client results that are never answered: MAX_PENDING_CLIENT_RESULTS (100) wait, the rest fail."""
    async with bounds_server(server_kind) as (server, bystander, url):
        socket = await attacker(url)
        async with Watch(server) as watch:
            for start in range(0, 1_000, 100):
                await socket.send("".join(invocation(str(i), "Ask") for i in range(start, start + 100)))
            failures = iter(range(1, 901))
            received = await messages(socket, lambda m: m.get("type") == 3 and next(failures) == 900)
        asked = [m for m in received if m.get("type") == 1 and m.get("target") == "Never"]
        failed = [m for m in received if m.get("type") == 3]
        assert len(asked) == 100 and len(failed) == 900
        assert "already has 100 client results pending" in failed[0]["error"]
        after = await leave(socket, bystander, server)
    print(watch.report("1,000 unanswered client results", server_kind, after))
    watch.check(after)


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:  # refused before the body was read: the server may close while we still send
        return 0, b""


@SERVERS
async def test_post_bodies_of_a_long_polling_connection(server_kind):
    """40 concurrent POSTs of 4 MB to one long-polling connection whose handler cannot take more in.

    Two are taken in (one handled, one waiting), the rest refused before their body is read. Daphne reads
    every request body whole before the application sees it (as for any view), so its memory follows the
    concurrent bodies whatever the application does: its figure is printed for the record
    (docs/deployment.md: limit request bodies at the proxy, or serve with uvicorn).
    """
    async with bounds_server(server_kind) as (server, bystander, _):
        base = f"{server.url}/boundshub"
        status, body = await asyncio.to_thread(http, "POST", f"{base}/negotiate?negotiateVersion=1")
        token = json.loads(body)["connectionToken"]
        assert (await asyncio.to_thread(http, "GET", f"{base}?id={token}"))[0] == 200  # the first poll: owner
        hello = frame({"protocol": "json", "version": 1}) + invocation("hold", "Hold")
        assert await asyncio.to_thread(http, "POST", f"{base}?id={token}", hello.encode()) == (200, b"")
        flood = "".join(invocation(str(i), "Echo", "x" * 30_000) for i in range(130)).encode()  # 3.9 MB
        async with Watch(server) as watch:
            url = f"{base}?id={token}"
            posts = [asyncio.ensure_future(asyncio.to_thread(http, "POST", url, flood)) for _ in range(40)]
            refused = []
            for answered in asyncio.as_completed(posts):  # all but the two the connection holds are refused
                refused.append((await answered)[0])
                if len(refused) == 38:
                    break
        assert set(refused) <= {429, 0}, refused
        held = [post for post in posts if not post.done()]  # taken in, waiting for the paused handler
        assert len(held) == 2
        assert await asyncio.to_thread(http, "DELETE", f"{base}?id={token}") == (202, b"")
        await bystander.receive_invocation("Left", timeout=30)
        assert [status for status, _ in await asyncio.gather(*held)] == [404, 404]  # ended before they were handled
        after = rss_mb(server.process.pid)
    print(watch.report("40 POSTs of 4 MB", server_kind, after))
    watch.check(after, memory=server_kind != "daphne")
