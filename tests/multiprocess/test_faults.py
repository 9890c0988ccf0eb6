"""Faults with real processes: a server killed with SIGKILL, and Redis restarted under the servers."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.servers import REPO_ROOT, conformance_server, free_port, start_redis, stop
from tests.signalr_client import RawHubClient

pytestmark = pytest.mark.timeout(120)


def ws(server, hub: str) -> str:
    return server.url.replace("http://", "ws://") + "/" + hub


def status_of(method: str, url: str, body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


LAYERS = pytest.mark.parametrize("layer", ["core", "pubsub"])


@LAYERS
async def test_killed_process(tmp_path, layer):
    """SIGKILL one of two servers: the other keeps serving; the dead one's registry entries expire."""
    redis = start_redis(port := free_port())
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "REGISTRY_TTL": "2", "CHANNEL_LAYER": layer}
    try:
        with conformance_server("daphne", env=env) as first, conformance_server("daphne", env=env) as second:
            alice = await RawHubClient.open(ws(first, "chathub"))
            bob = await RawHubClient.open(ws(second, "chathub"))
            await alice.invoke("JoinGroup", "g")
            await bob.invoke("JoinGroup", "g")
            # a long-polling connection owned by the process about to die
            with urllib.request.urlopen(
                urllib.request.Request(f"{first.url}/testhub/negotiate?negotiateVersion=1", method="POST"), timeout=10
            ) as response:
                token = json.loads(response.read())["connectionToken"]
            assert status_of("GET", f"{second.url}/testhub?id={token}") == 200
            assert status_of("POST", f"{first.url}/testhub?id={token}", b'{"protocol":"json","version":1}\x1e') == 200

            stop(second.process, signal.SIGKILL)

            assert await alice.invoke("SendToGroup", "g", "still here", timeout=10) is None
            assert (await alice.receive_invocation("ReceiveMessage"))[1] == "still here"
            assert await asyncio.to_thread(status_of, "POST", f"{first.url}/push/group/g", b'{"message":"m"}') == 202
            assert await alice.receive_invocation("ReceiveMessage") == ["server", "m"]
            deadline = time.monotonic() + 15
            while status_of("POST", f"{first.url}/testhub?id={token}", b'{"type":6}\x1e') != 404:
                assert time.monotonic() < deadline, "the dead owner's registry entry never expired"
                await asyncio.sleep(0.5)
            await alice.close()
    finally:
        stop(redis)


@LAYERS
async def test_redis_restart(tmp_path, layer):
    """Redis goes away and comes back empty: callers get errors instead of hanging while it is away, and no
    push acknowledged after it came back is lost silently: each process, once its probes show delivery
    works again, asks its clients to reconnect (messages to them may have been lost meanwhile)."""
    port = free_port()
    redis = start_redis(port)
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "CHANNEL_LAYER": layer}
    try:
        with conformance_server("daphne", env=env) as first, conformance_server("uvicorn", env=env) as second:
            alice = await RawHubClient.open(ws(first, "chathub"))
            bob = await RawHubClient.open(ws(second, "chathub"))
            await alice.invoke("JoinGroup", "g")
            await bob.invoke("JoinGroup", "g")
            stop(redis)

            started = time.monotonic()
            with pytest.raises(RuntimeError, match="An unexpected error occurred invoking 'SendToGroup'"):
                await bob.invoke("SendToGroup", "g", "lost", timeout=30)
            status = await asyncio.to_thread(status_of, "POST", f"{second.url}/push/group/g", b'{"message":"x"}')
            assert status == 500
            assert time.monotonic() - started < 30, "callers hung while Redis was down"
            # Both processes noticed (a probe failed): an outage too short for any probe to fall into it can go
            # unnoticed on the pub/sub layer (docs/deployment.md, "When the channel layer fails").
            for server in (first, second):
                deadline = time.monotonic() + 30
                while (await negotiate_until(server, 503))[1] != LAYER_FAILING:
                    assert time.monotonic() < deadline, "the probes did not notice the outage"

            redis = start_redis(port)
            restarted = time.monotonic()
            for client in (alice, bob):
                close = await client.receive_close(timeout=30)
                assert close.get("allowReconnect") is True, close
                assert "may have been lost" in close["error"], close
            print(
                f"Redis outage: both processes asked their clients to reconnect {time.monotonic() - restarted:.1f} s "
                "after Redis came back."
            )

            alice = await RawHubClient.open(ws(first, "chathub"))
            bob = await RawHubClient.open(ws(second, "chathub"))
            await alice.invoke("JoinGroup", "g")
            await bob.invoke("JoinGroup", "g")
            assert await bob.invoke("SendToGroup", "g", "back") is None
            assert (await alice.receive_invocation("ReceiveMessage"))[1] == "back"
            assert await alice.invoke("SendToOthers", "hello again") is None
            assert (await bob.receive_invocation("ReceiveMessage"))[1] == "back"  # his own group message first
            assert (await bob.receive_invocation("ReceiveMessage"))[1] == "hello again"
            await alice.close()
            await bob.close()
    finally:
        stop(redis)


UNAVAILABLE = "The server cannot take connections now: "
LAYER_FAILING = UNAVAILABLE + "its channel layer is failing; retry later"


def negotiate(server, hub: str = "chathub") -> tuple[int, str, str | None]:
    """Status, body and content type of a negotiate."""
    request = urllib.request.Request(f"{server.url}/{hub}/negotiate?negotiateVersion=1", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode(), response.headers.get("content-type")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get("content-type")


def server_log(server) -> str:
    lines = server.log.read_text(errors="replace").splitlines()
    return "\n".join(line for line in lines if '" 503 ' not in line and '" 200 ' not in line)[-6000:]


async def negotiate_until(server, status: int, timeout: float = 30) -> tuple[int, str, str | None]:
    """The first negotiate answered with ``status``; fails after ``timeout`` seconds of other answers."""
    deadline = time.monotonic() + timeout
    while True:
        reply = await asyncio.to_thread(negotiate, server)
        if reply[0] == status:
            return reply
        assert time.monotonic() < deadline, (
            f"negotiate kept answering {reply}; server log but access lines:\n{server_log(server)}"
        )
        await asyncio.sleep(0.1)


def start_outcome(server, client: str) -> dict:
    """What ``start()`` of ``client`` ("official" or "realtime") does against the server's chat hub, in Node
    (``node_modules``: the official client's packages)."""
    result = subprocess.run(
        [shutil.which("node"), "start-error.mjs", f"{server.url}/chathub"],
        cwd=REPO_ROOT / "tests" / "js-conformance",
        env={"PATH": "/usr/bin:/bin", "CLIENT": client},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@LAYERS
@pytest.mark.parametrize("registry", ["MemoryRegistry", "RedisRegistry"])
async def test_negotiate_answers_503_while_the_layer_fails(node_modules, layer, registry):
    """Redis stops under a running server: negotiate answers 503 with a body the clients show (instead of 200
    and an upgrade that fails), and 200 again once the layer works. With MemoryRegistry only the process channel's
    probes can know; with RedisRegistry the registry write fails first."""
    port = free_port()
    redis = start_redis(port)
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "CHANNEL_LAYER": layer,
        "REGISTRY_BACKEND": f"realtime.registry.{registry}",
    }
    try:
        with conformance_server("daphne", env=env) as server:
            assert (await asyncio.to_thread(negotiate, server))[0] == 200
            stop(redis)
            if registry == "RedisRegistry":
                status, body, _ = await asyncio.to_thread(negotiate, server)
                assert status == 503 and body.startswith(UNAVAILABLE), (status, body)
            _, body, content_type = await negotiate_until(server, 503)
            deadline = time.monotonic() + 30
            while body != LAYER_FAILING:  # RedisRegistry: the registry refuses until the probes have noticed
                assert time.monotonic() < deadline, body
                _, body, content_type = await negotiate_until(server, 503)
            assert content_type == "text/plain"
            for client in ("official", "realtime"):
                outcome = await asyncio.to_thread(start_outcome, server, client)
                assert outcome == {
                    "started": False,
                    "message": f"Failed to complete negotiation with the server: Error: {LAYER_FAILING}: "
                    "Status code '503'",
                }, client

            redis = start_redis(port)
            await negotiate_until(server, 200)
            assert await asyncio.to_thread(start_outcome, server, "official") == {"started": True}
    finally:
        stop(redis)
