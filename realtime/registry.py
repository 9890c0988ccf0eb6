"""The connection registry: what a connection token stands for, and which process owns it.

Negotiate writes an entry (``create``). The first transport request claims it (``claim``), recording
the transport and the owner (the process channel of the process that serves it). Later HTTP requests of
the connection (POST sends, polls, DELETE) look the owner up (``lookup``) and are routed to it, so no
sticky sessions are needed. Unclaimed entries expire after ``DISCONNECT_TIMEOUT``; claimed ones after
``REGISTRY_TTL`` unless their owner refreshes them: a killed process's entries disappear, and a
restarted Redis gets the live ones back at the next refresh.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .conf import realtime_settings
from .redis_client import LoopClients


def active_ttl() -> float:
    """Seconds a claimed entry lives without a refresh from its owner (``REGISTRY_TTL``)."""
    return float(realtime_settings.REGISTRY_TTL)


def new_id() -> str:
    """An unguessable URL-safe id (128 random bits)."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class Entry:
    """A negotiated connection."""

    connection_id: str
    endpoint: str
    user_id: str | None = None
    transport: str = ""
    """Empty until a transport request claims the connection."""
    owner: str = ""
    """The layer channel of the owning process, once claimed."""
    stateful: bool = False
    """Negotiate granted stateful reconnect: a new WebSocket for the token may take the lost one's place."""


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of :meth:`MemoryRegistry.claim`: the entry, and whether this call claimed it."""

    entry: Entry
    claimed: bool


class MemoryRegistry:
    """Registry for one process (the embedded default).

    Entries and their deadlines are two dicts: a refresh or a claim then rewrites a float, which the garbage
    collector does not track, instead of building a new (entry, deadline) tuple that it would walk in every
    full collection; a sweep deletes the expired tokens instead of rebuilding the table.
    """

    SWEEP_INTERVAL = 1.0
    """Seconds between two sweeps of expired entries (a sweep reads every deadline: not on every negotiate)."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._deadlines: dict[str, float] = {}
        self._next_sweep = 0.0

    async def create(self, token: str, entry: Entry) -> None:
        """Remember ``entry`` under ``token`` until claimed or ``DISCONNECT_TIMEOUT`` passes."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_INTERVAL
            for expired in [t for t, deadline in self._deadlines.items() if deadline <= now]:
                del self._entries[expired], self._deadlines[expired]
        self._entries[token] = entry
        self._deadlines[token] = now + float(realtime_settings.DISCONNECT_TIMEOUT)

    async def lookup(self, token: str) -> Entry | None:
        """The live entry of ``token``, or ``None``."""
        deadline = self._deadlines.get(token)
        if deadline is None or deadline < time.monotonic():
            return None
        return self._entries[token]

    async def claim(self, token: str, transport: str, owner: str) -> Claim | None:
        """Claim ``token`` for ``transport`` served by ``owner``, unless already claimed; ``None`` if unknown."""
        entry = await self.lookup(token)
        if entry is None:
            return None
        if entry.transport:
            return Claim(entry, claimed=False)
        entry = replace(entry, transport=transport, owner=owner)
        self._keep(token, entry, time.monotonic() + active_ttl())
        return Claim(entry, claimed=True)

    async def refresh(self, entries: Mapping[str, Entry]) -> None:
        """Keep the claimed ``entries`` (by token) alive: their owner is."""
        deadline = time.monotonic() + active_ttl()
        for token, entry in entries.items():
            self._keep(token, entry, deadline)

    async def release(self, token: str) -> None:
        """Forget ``token`` (its connection ended)."""
        self._entries.pop(token, None)
        self._deadlines.pop(token, None)

    async def take_over(self, token: str, old_owner: str, new_owner: str) -> Entry | None:
        """Make ``new_owner`` the owner of ``token`` if ``old_owner`` still is (a takeover after its death)."""
        entry = await self.lookup(token)
        if entry is None or entry.owner != old_owner:
            return None
        entry = replace(entry, owner=new_owner)
        self._keep(token, entry, time.monotonic() + active_ttl())
        return entry

    def _keep(self, token: str, entry: Entry, deadline: float) -> None:
        self._entries[token] = entry
        self._deadlines[token] = deadline


_TAKE_OVER = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return nil end
redis.call('HSET', KEYS[1], 'owner', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HGETALL', KEYS[1])
"""

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local claimed = 0
if redis.call('HGET', KEYS[1], 'transport') == '' then
  redis.call('HSET', KEYS[1], 'transport', ARGV[1], 'owner', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  claimed = 1
end
return {claimed, redis.call('HGETALL', KEYS[1])}
"""


class RedisRegistry:
    """Registry shared by every process through Redis (``REALTIME["REDIS_URL"]``)."""

    prefix = "realtime:registry:"

    def __init__(self) -> None:
        self._redis = LoopClients("RedisRegistry").get

    async def create(self, token: str, entry: Entry) -> None:
        """Remember ``entry`` under ``token`` until claimed or ``DISCONNECT_TIMEOUT`` passes."""
        fields = _fields(entry)
        key = self.prefix + token
        async with self._redis().pipeline(transaction=True) as pipe:
            await pipe.hset(key, mapping=fields).pexpire(key, int(float(realtime_settings.DISCONNECT_TIMEOUT) * 1000))
            await pipe.execute()

    async def lookup(self, token: str) -> Entry | None:
        """The live entry of ``token``, or ``None``."""
        return _entry(await self._redis().hgetall(self.prefix + token))

    async def claim(self, token: str, transport: str, owner: str) -> Claim | None:
        """Claim ``token`` atomically for ``transport`` served by ``owner``; ``None`` if unknown."""
        result = await self._redis().eval(_CLAIM, 1, self.prefix + token, transport, owner, int(active_ttl() * 1000))
        if result is None:
            return None
        claimed, flat = result
        entry = _entry(dict(zip(flat[::2], flat[1::2], strict=True)))
        return None if entry is None else Claim(entry, claimed=bool(claimed))

    async def refresh(self, entries: Mapping[str, Entry]) -> None:
        """Keep the claimed ``entries`` (by token) alive, writing them again if Redis lost them."""
        if entries:
            ttl = int(active_ttl() * 1000)
            async with self._redis().pipeline(transaction=False) as pipe:
                for token, entry in entries.items():
                    pipe.hset(self.prefix + token, mapping=_fields(entry)).pexpire(self.prefix + token, ttl)
                await pipe.execute()

    async def release(self, token: str) -> None:
        """Forget ``token`` (its connection ended)."""
        await self._redis().delete(self.prefix + token)

    async def take_over(self, token: str, old_owner: str, new_owner: str) -> Entry | None:
        """Make ``new_owner`` the owner of ``token`` if ``old_owner`` still is (a takeover after its death)."""
        key = self.prefix + token
        flat = await self._redis().eval(_TAKE_OVER, 1, key, old_owner, new_owner, int(active_ttl() * 1000))
        return _entry(dict(zip(flat[::2], flat[1::2], strict=True))) if flat else None


def _fields(entry: Entry) -> dict[str, str]:
    return {
        "connection_id": entry.connection_id,
        "endpoint": entry.endpoint,
        "user_id": entry.user_id or "",
        "transport": entry.transport,
        "owner": entry.owner,
        "stateful": "1" if entry.stateful else "",
    }


def _entry(fields: dict[str, str]) -> Entry | None:
    if not fields:
        return None
    return Entry(
        connection_id=fields["connection_id"],
        endpoint=fields["endpoint"],
        user_id=fields["user_id"] or None,
        transport=fields["transport"],
        owner=fields["owner"],
        stateful=bool(fields.get("stateful")),
    )


_registry: Any = None


def registry() -> MemoryRegistry | RedisRegistry:
    """The configured registry (``REALTIME["REGISTRY_BACKEND"]``), created once per process."""
    global _registry
    backend = realtime_settings.REGISTRY_BACKEND
    if not isinstance(_registry, backend):
        _registry = backend()
    return _registry
