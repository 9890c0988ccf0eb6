"""Real processes for the change-capture suite: a PostgreSQL database of its own, a private Redis, two servers.

Both daphne conformance servers run on the same database and Redis (pub/sub layer), so each runs a capture
publisher; one leads. Writes come from other processes: ``psql``, ``python -m django item_writes``, and
psycopg connections of the test itself.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.servers import REPO_ROOT, Server, conformance_server, postgres_database, redis_server
from tests.signalr_client import RawHubClient

COMMAND_TIMEOUT = 60


@dataclass
class CaptureStack:
    """What the capture tests run against."""

    database_url: str
    servers: list[Server]
    env: dict[str, str]

    async def client(self, server: int = 0, user: str | None = None) -> RawHubClient:
        """A raw JSON ChatHub client of ``servers[server]`` (as JWT user ``user``), joined to group ``items``."""
        base = self.servers[server].url
        url = base.replace("http://", "ws://") + "/chathub"
        if user is not None:
            token = await asyncio.to_thread(_get, f"{base}/generateJwtToken?user={user}")
            url += "?access_token=" + token
        client = await RawHubClient.open(url)
        await client.invoke("JoinGroup", "items")
        return client

    def sql(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement in autocommit on the test database; its rows (if any)."""
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=10) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def psql(self, statement: str) -> None:
        """Run ``statement`` with the ``psql`` program (another client than Django)."""
        subprocess.run(
            ["psql", self.database_url, "-v", "ON_ERROR_STOP=1", "-qc", statement],
            check=True,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
        )

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m django <args>`` in a new process (conformance settings, the test database)."""
        env = {**os.environ, **self.env, "DJANGO_SETTINGS_MODULE": "tests.conformance.settings"}
        return subprocess.run(
            [sys.executable, "-m", "django", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=True,
        )


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


@pytest.fixture(scope="package")
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped at the end."""
    with postgres_database("realtime_capture_test") as url:
        yield url


@pytest.fixture(scope="package")
def stack(database_url: str) -> Iterator[CaptureStack]:
    """Two daphne conformance servers on the test database and a private Redis (started one after the other:
    each migrates on start)."""
    with redis_server() as redis_url:
        # DATABASE_URL: the name conformance.md gives (tests/push uses CONFORMANCE_DATABASE_URL, which wins over it)
        env = {"REDIS_URL": redis_url, "CHANNEL_LAYER": "pubsub", "DATABASE_URL": database_url}
        with conformance_server("daphne", env=env) as first, conformance_server("daphne", env=env) as second:
            yield CaptureStack(database_url, [first, second], env)


async def changes_until(client: RawHubClient, marker: str, timeout: float = 20) -> list[dict[str, Any]]:
    """Every ``ItemChanged`` payload up to and including the one whose name is ``marker``."""
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1].get("name") != marker:  # a truncate has no name
        seen.append((await client.receive_invocation("ItemChanged", timeout))[0])
    return seen
