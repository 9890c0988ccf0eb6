"""Presence shared by every process through Redis (``REALTIME["REDIS_URL"]``).

Data model (``P`` = ``realtime:presence:``; ``sid`` = a digest of hub, scope kind and name):

- ``P s:<sid>``: sorted set, connection id → expiry (ms, Redis clock). Live = expiry in the future, so
  counting is one ``ZCOUNT`` and a dead process's entries stop being listed at their expiry.
- ``P e:<sid>``: hash, connection id → entry JSON (user, connected-at, metadata).
- ``P n``: hash, sid → JSON ``{"h": hub, "k": kind, "n": name, "d": kind digest}`` (names for diffs).
- ``P k:<kind digest>``: set of the sids of one hub and kind (``names()``: the management command).
- ``P procs``: sorted set, process → liveness expiry: the per-process liveness keys, in one sorted set
  so a sweeper finds the dead ones with one ``ZRANGEBYSCORE`` (no ``SCAN``, no keyspace events). Pushed
  forward by ``alive()`` (one ``ZADD``, whatever the number of entries) and by every join; every process
  that owns entries is in it, so a dead one is always found.
- ``P p:<process>``: set of ``"<sid> <connection id>"``, every entry the process owns.
- ``P c:<connection id>``: hash, sid → the process that owns the connection's entry there: a process that
  takes a connection over (stateful reconnect) takes its entries with it, and a process removes or sweeps
  only the entries it owns.

Every write is one Lua script (atomic); times come from Redis ``TIME``, so process clocks never matter.
A scope's keys, name and index entry disappear with its last entry; a process's set with its last entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from ..loops import PerLoop
from ..redis_client import LoopClients
from .base import PresenceBackend, PresenceEntry, PresenceScope

_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"

_JOIN = (
    _NOW
    + """
local P, pid, conn = ARGV[1], ARGV[2], ARGV[5]
local expiry = now + tonumber(ARGV[3])
local added = {}
for i = 6, #ARGV, 4 do
  local sid = ARGV[i]
  local owner = redis.call('HGET', P .. 'c:' .. conn, sid)
  if owner and owner ~= pid then redis.call('SREM', P .. 'p:' .. owner, sid .. ' ' .. conn) end
  redis.call('HSET', P .. 'c:' .. conn, sid, pid)
  added[#added + 1] = redis.call('ZADD', P .. 's:' .. sid, expiry, conn)
  redis.call('HSET', P .. 'e:' .. sid, conn, ARGV[i + 1])
  redis.call('HSET', P .. 'n', sid, ARGV[i + 2])
  redis.call('SADD', P .. 'k:' .. ARGV[i + 3], sid)
  redis.call('SADD', P .. 'p:' .. pid, sid .. ' ' .. conn)
end
redis.call('ZADD', P .. 'procs', now + tonumber(ARGV[4]), pid)
return added
"""
)

_LEAVE = """
local P, pid, conn = ARGV[1], ARGV[2], ARGV[3]
local removed = {}
for i = 4, #ARGV, 2 do
  local sid = ARGV[i]
  local s = P .. 's:' .. sid
  local owner = redis.call('HGET', P .. 'c:' .. conn, sid)
  if owner and owner ~= pid then  -- another process took the connection over: its entry stays
    removed[#removed + 1] = 0
  else
    removed[#removed + 1] = redis.call('ZREM', s, conn)
    redis.call('HDEL', P .. 'e:' .. sid, conn)
    redis.call('HDEL', P .. 'c:' .. conn, sid)
    redis.call('SREM', P .. 'p:' .. pid, sid .. ' ' .. conn)
    if redis.call('ZCARD', s) == 0 then
      redis.call('DEL', P .. 'e:' .. sid)
      redis.call('HDEL', P .. 'n', sid)
      redis.call('SREM', P .. 'k:' .. ARGV[i + 1], sid)
    end
  end
end
return removed
"""

_REFRESH = (
    _NOW
    + """
local P = ARGV[1]
local expiry = now + tonumber(ARGV[2])
local missing = {}
for i = 3, #ARGV, 2 do
  local s = P .. 's:' .. ARGV[i]
  if redis.call('ZSCORE', s, ARGV[i + 1]) then
    redis.call('ZADD', s, expiry, ARGV[i + 1])
  else
    missing[#missing + 1] = (i - 3) / 2
  end
end
return missing
"""
)

_ALIVE = (
    _NOW
    + """
local procs, pid = ARGV[1] .. 'procs', ARGV[2]
local was = redis.call('ZSCORE', procs, pid)
redis.call('ZADD', procs, now + tonumber(ARGV[3]), pid)
if was and tonumber(was) > now then return 0 end
return 1
"""
)

_DEAD = (
    _NOW
    + """
local dead = {}
for _, pid in ipairs(redis.call('ZRANGEBYSCORE', ARGV[1] .. 'procs', '-inf', now, 'LIMIT', 0, 100)) do
  if pid ~= ARGV[2] then dead[#dead + 1] = pid end
end
return dead
"""
)

_REAP = (
    _NOW
    + """
local P, pid = ARGV[1], ARGV[2]
local alive = redis.call('ZSCORE', P .. 'procs', pid)
if alive and tonumber(alive) > now then return {1, {}} end
local out = {}
for _, item in ipairs(redis.call('SPOP', P .. 'p:' .. pid, ARGV[3])) do
  local at = string.find(item, ' ', 1, true)
  local sid, conn = string.sub(item, 1, at - 1), string.sub(item, at + 1)
  local s, e, c = P .. 's:' .. sid, P .. 'e:' .. sid, P .. 'c:' .. conn
  local owner = redis.call('HGET', c, sid)
  if (not owner or owner == pid) and redis.call('ZREM', s, conn) == 1 then
    redis.call('HDEL', c, sid)
    local name = redis.call('HGET', P .. 'n', sid)
    out[#out + 1] = name or ''
    out[#out + 1] = conn
    out[#out + 1] = redis.call('HGET', e, conn) or ''
    redis.call('HDEL', e, conn)
    if redis.call('ZCARD', s) == 0 then
      redis.call('DEL', e)
      redis.call('HDEL', P .. 'n', sid)
      if name then redis.call('SREM', P .. 'k:' .. cjson.decode(name)['d'], sid) end
    end
  end
end
if redis.call('SCARD', P .. 'p:' .. pid) == 0 then
  redis.call('ZREM', P .. 'procs', pid)
  return {1, out}
end
return {0, out}
"""
)

_TAKE = (
    _NOW
    + """
local P, pid, conn = ARGV[1], ARGV[2], ARGV[3]
local c, expiry = P .. 'c:' .. conn, now + tonumber(ARGV[4])
local flat = redis.call('HGETALL', c)
local out = {}
for i = 1, #flat, 2 do
  local sid, owner = flat[i], flat[i + 1]
  local s = P .. 's:' .. sid
  if redis.call('ZSCORE', s, conn) then
    if owner ~= pid then
      redis.call('SREM', P .. 'p:' .. owner, sid .. ' ' .. conn)
      redis.call('SADD', P .. 'p:' .. pid, sid .. ' ' .. conn)
      redis.call('HSET', c, sid, pid)
    end
    redis.call('ZADD', s, expiry, conn)
    out[#out + 1] = redis.call('HGET', P .. 'n', sid) or ''
    out[#out + 1] = redis.call('HGET', P .. 'e:' .. sid, conn) or ''
  else
    redis.call('HDEL', c, sid)
  end
end
redis.call('ZADD', P .. 'procs', now + tonumber(ARGV[5]), pid)
return out
"""
)

_MEMBERS = (
    _NOW
    + """
local s, e = ARGV[1] .. 's:' .. ARGV[2], ARGV[1] .. 'e:' .. ARGV[2]
if redis.call('ZCOUNT', s, '-inf', now) == 0 then  -- nothing expired (the usual case): every entry
  return '[' .. table.concat(redis.call('HVALS', e), ',') .. ']'
end
local ids = redis.call('ZRANGEBYSCORE', s, '(' .. now, '+inf')
local values = {}
for i = 1, #ids, 1000 do
  local chunk = redis.call('HMGET', e, unpack(ids, i, math.min(i + 999, #ids)))
  for j = 1, #chunk do
    if chunk[j] then values[#values + 1] = chunk[j] end
  end
end
return '[' .. table.concat(values, ',') .. ']'
"""
)

_IDS = (
    _NOW
    + """
local ids = redis.call('ZRANGEBYSCORE', ARGV[1] .. 's:' .. ARGV[2], '(' .. now, '+inf')
if #ids == 0 then return '[]' end
return cjson.encode(ids)
"""
)

_COUNT = _NOW + "return redis.call('ZCOUNT', ARGV[1] .. 's:' .. ARGV[2], '(' .. now, '+inf')"

_CONTAINS = (
    _NOW
    + """
local expiry = redis.call('ZSCORE', ARGV[1] .. 's:' .. ARGV[2], ARGV[3])
if expiry and tonumber(expiry) > now then return 1 end
return 0
"""
)

_NAMES = (
    _NOW
    + """
local out = {}
for _, sid in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'k:' .. ARGV[2])) do
  local count = redis.call('ZCOUNT', ARGV[1] .. 's:' .. sid, '(' .. now, '+inf')
  local name = redis.call('HGET', ARGV[1] .. 'n', sid)
  if count > 0 and name then
    out[#out + 1] = name
    out[#out + 1] = count
  end
end
return out
"""
)

_SCRIPTS = {
    "join": _JOIN,
    "leave": _LEAVE,
    "refresh": _REFRESH,
    "alive": _ALIVE,
    "dead": _DEAD,
    "reap": _REAP,
    "take": _TAKE,
    "members": _MEMBERS,
    "ids": _IDS,
    "count": _COUNT,
    "contains": _CONTAINS,
    "names": _NAMES,
}


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\0".join(parts).encode("utf-8"), digest_size=16).hexdigest()


def scope_id(scope: PresenceScope) -> str:
    """The digest naming ``scope``'s keys."""
    return _digest(scope.hub, scope.kind, scope.name)


def kind_id(hub: str, kind: str) -> str:
    """The digest naming the index of ``hub``'s scopes of ``kind``."""
    return _digest(hub, kind)


class RedisPresence(PresenceBackend):
    """Presence in Redis: every process with the same ``REDIS_URL`` sees the same entries."""

    prefix = "realtime:presence:"
    refresh_batch = 1000
    """Items per refresh script call (one call blocks Redis for about a millisecond)."""
    reap_batch = 500
    """Entries of a dead process removed per script call."""
    max_reap_calls = 100
    """Script calls per dead process and sweep; the rest waits for the next sweep."""

    def __init__(self) -> None:
        self._clients = LoopClients("RedisPresence")
        self._registered: PerLoop[dict[str, Any]] = PerLoop(
            lambda: {name: self._clients.get().register_script(text) for name, text in _SCRIPTS.items()}
        )

    def _scripts(self) -> dict[str, Any]:
        """The scripts registered on this event loop's client (one client per loop, as in the registry)."""
        return self._registered.get()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Close the client this loop opened inside the block (sync callers run on throw-away loops)."""
        fresh = self._clients.current() is None
        try:
            yield
        finally:
            if fresh:
                self._registered.pop()
                await self._clients.close_current()

    async def join(
        self,
        process: str,
        connection_id: str,
        entries: Sequence[tuple[PresenceScope, PresenceEntry]],
        ttl: float,
        liveness: float | None = None,
    ) -> list[bool]:
        """Add or overwrite the connection's entry in each scope; per scope, ``True`` if it was not there."""
        alive_ms = int((ttl if liveness is None else liveness) * 1000)
        args: list[Any] = [self.prefix, process, int(ttl * 1000), alive_ms, connection_id]
        for scope, entry in entries:
            kind = kind_id(scope.hub, scope.kind)
            name = json.dumps({"h": scope.hub, "k": scope.kind, "n": scope.name, "d": kind}, separators=(",", ":"))
            args += [scope_id(scope), entry.dumps(), name, kind]
        return [bool(added) for added in await self._scripts()["join"](args=args)]

    async def leave(self, process: str, connection_id: str, scopes: Sequence[PresenceScope]) -> list[bool]:
        """Remove the connection from each scope; per scope, ``True`` if it was there."""
        if not scopes:
            return []
        args: list[Any] = [self.prefix, process, connection_id]
        for scope in scopes:
            args += [scope_id(scope), kind_id(scope.hub, scope.kind)]
        return [bool(removed) for removed in await self._scripts()["leave"](args=args)]

    async def refresh(self, process: str, items: Sequence[tuple[PresenceScope, str]], ttl: float) -> list[int]:
        """Push the expiry of each live item forward in one round trip; returns the indexes of the missing ones."""
        if not items:
            return []
        script = self._scripts()["refresh"]
        batches = [items[i : i + self.refresh_batch] for i in range(0, len(items), self.refresh_batch)]
        async with script.registered_client.pipeline(transaction=False) as pipe:
            for batch in batches:
                args: list[Any] = [self.prefix, int(ttl * 1000)]
                for scope, connection_id in batch:
                    args += [scope_id(scope), connection_id]
                await script(args=args, client=pipe)
            replies = await pipe.execute()
        return [offset * self.refresh_batch + index for offset, missing in enumerate(replies) for index in missing]

    async def alive(self, process: str, ttl: float) -> bool:
        """Push ``process``'s liveness to now + ``ttl`` (one ``ZADD``); ``True`` if it had expired or was gone."""
        return bool(await self._scripts()["alive"](args=[self.prefix, process, int(ttl * 1000)]))

    async def sweep(self, process: str) -> list[tuple[PresenceScope, PresenceEntry]]:
        """Remove the entries of processes whose liveness expired (not ``process``) and return them."""
        scripts = self._scripts()
        removed: list[tuple[PresenceScope, PresenceEntry]] = []
        for dead in await scripts["dead"](args=[self.prefix, process]):
            for _ in range(self.max_reap_calls):
                done, flat = await scripts["reap"](args=[self.prefix, dead, self.reap_batch])
                for name, connection_id, entry in zip(flat[::3], flat[1::3], flat[2::3], strict=True):
                    if name:
                        data = json.loads(name)
                        removed.append((PresenceScope(data["h"], data["k"], data["n"]), _entry(connection_id, entry)))
                if done:
                    break
        return removed

    async def take(
        self, process: str, connection_id: str, ttl: float, liveness: float | None = None
    ) -> list[tuple[PresenceScope, PresenceEntry]]:
        """Make ``process`` the owner of every entry of the connection (one script call); returns them."""
        alive_ms = int((ttl if liveness is None else liveness) * 1000)
        flat = await self._scripts()["take"](args=[self.prefix, process, connection_id, int(ttl * 1000), alive_ms])
        taken = []
        for name, text in zip(flat[::2], flat[1::2], strict=True):
            if name:
                data = json.loads(name)
                taken.append((PresenceScope(data["h"], data["k"], data["n"]), _entry(connection_id, text)))
        return taken

    async def members(self, scope: PresenceScope) -> list[PresenceEntry]:
        """The live entries of ``scope``: one round trip and one JSON document, whatever the size."""
        text = await self._scripts()["members"](args=[self.prefix, scope_id(scope)])
        return [PresenceEntry.from_dict(data) for data in json.loads(text)]

    async def connection_ids(self, scope: PresenceScope) -> list[str]:
        """The connection ids of the live entries of ``scope`` (no entry is read)."""
        return json.loads(await self._scripts()["ids"](args=[self.prefix, scope_id(scope)]))

    async def count(self, scope: PresenceScope) -> int:
        """How many live entries ``scope`` has (one ``ZCOUNT``)."""
        return int(await self._scripts()["count"](args=[self.prefix, scope_id(scope)]))

    async def contains(self, scope: PresenceScope, connection_id: str) -> bool:
        """Whether ``connection_id`` has a live entry in ``scope`` (one ``ZSCORE``)."""
        return bool(await self._scripts()["contains"](args=[self.prefix, scope_id(scope), connection_id]))

    async def names(self, hub: str, kind: str) -> dict[str, int]:
        """Every scope name of ``kind`` in ``hub`` with live entries, with its count."""
        flat = await self._scripts()["names"](args=[self.prefix, kind_id(hub, kind)])
        return {json.loads(name)["n"]: int(count) for name, count in zip(flat[::2], flat[1::2], strict=True)}


def _entry(connection_id: str, text: str) -> PresenceEntry:
    return PresenceEntry.from_dict(json.loads(text)) if text else PresenceEntry(connection_id, None, 0.0, {})
