"""Real processes for the push suite: a private Redis, a PostgreSQL database of its own, a daphne server.

The database is created on the machine's PostgreSQL (127.0.0.1:5432, user postgres, trust auth) under a
unique name and dropped afterwards; every process gets ``CONFORMANCE_DATABASE_URL`` pointing at it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.servers import REPO_ROOT, Server, conformance_server, postgres_database, redis_server
from tests.signalr_client import RawHubClient

COMMAND_TIMEOUT = 60


@dataclass
class PushStack:
    """What the push tests run against."""

    redis_url: str
    database_url: str
    server: Server
    env: dict[str, str]

    def ws(self, hub: str) -> str:
        return self.server.url.replace("http://", "ws://") + "/" + hub

    async def client(self, hub: str = "chathub", *groups: str) -> RawHubClient:
        """A raw JSON hub client, joined to ``groups`` (ChatHub's ``JoinGroup``)."""
        client = await RawHubClient.open(self.ws(hub))
        for group in groups:
            await client.invoke("JoinGroup", group)
        return client

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """POST JSON to the server; returns the status and the JSON answer (``None`` when empty)."""
        return await asyncio.to_thread(http, "POST", self.server.url + path, body, headers)

    async def get(self, path: str) -> tuple[int, Any]:
        return await asyncio.to_thread(http, "GET", self.server.url + path)

    async def command(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``python -m django <args>`` in a new process with no server (conformance settings)."""
        full_env = {**os.environ, **self.env, "DJANGO_SETTINGS_MODULE": "tests.conformance.settings", **(env or {})}
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "django", *args],
            cwd=REPO_ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="package")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    with postgres_database("realtime_push") as url:
        yield url


@pytest.fixture(scope="package")
def push_stack(postgres_url: str) -> Iterator[PushStack]:
    """A daphne conformance server on PostgreSQL and a private Redis (channel layer, presence, broker)."""
    with redis_server() as url:
        env = {"REDIS_URL": url, "CHANNEL_LAYER": "pubsub", "CONFORMANCE_DATABASE_URL": postgres_url}
        with conformance_server("daphne", env=env) as server:
            yield PushStack(url, postgres_url, server, env)


async def collect_until(client: RawHubClient, marker: str, timeout: float = 15) -> list[tuple[str, Any]]:
    """Every server invocation ``(target, first argument)`` up to the ``Announcement(marker)``, excluded
    (presence diffs too: ChatHub tracks presence)."""
    seen: list[tuple[str, Any]] = []
    while True:
        message = await client._next(lambda m: m.get("type") == 1, timeout)
        arguments = message["arguments"]
        if message["target"] == "Announcement" and arguments == [marker]:
            return seen
        if message["target"] != "PresenceChanged":
            seen.append((message["target"], arguments[0] if arguments else None))
