"""Where user-group memberships live: user *u* of hub *h* is in group *g* until a UNIX time.

A membership applies to the user's connections of now and to those that connect before it expires
(``realtime.groups`` does both), so it must outlive any one process: ``USER_GROUP_BACKEND`` names the store,
:class:`MemoryUserGroups` for one process (the default) or :class:`RedisUserGroups` for every process with
the same ``REDIS_URL``. A user keeps at most ``limit`` memberships; adding one more drops the one that
expires first. Times are the callers' clocks (the owners of the connections compare them with their own).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from .conf import configured_backend
from .redis_client import LoopClients

YEAR = 365 * 24 * 3600.0
"""How long a membership without a time to live lasts (as in Azure SignalR)."""


class MemoryUserGroups:
    """User-group memberships in this process's memory (every thread of it); nothing is shared."""

    def __init__(self) -> None:
        self._users: dict[tuple[str, str], dict[str, float]] = {}
        self._lock = threading.Lock()

    async def add(self, hub: str, user_id: str, group: str, until: float, *, limit: int) -> None:
        """Put ``user_id`` of ``hub`` in ``group`` until ``until`` (replacing an earlier expiry)."""
        now = time.time()
        with self._lock:
            groups = self._users.setdefault((hub, user_id), {})
            groups[group] = until
            for name in [name for name, expiry in groups.items() if expiry <= now]:
                del groups[name]
            while len(groups) > max(limit, 1):
                del groups[min(groups, key=groups.__getitem__)]

    async def remove(self, hub: str, user_id: str, group: str) -> None:
        """End the membership of ``user_id`` in ``group``."""
        with self._lock:
            groups = self._users.get((hub, user_id))
            if groups is not None:
                groups.pop(group, None)
                if not groups:
                    del self._users[hub, user_id]

    async def clear(self, hub: str, user_id: str) -> None:
        """End every membership of ``user_id``."""
        with self._lock:
            self._users.pop((hub, user_id), None)

    async def groups(self, hub: str, user_id: str) -> dict[str, float]:
        """The live memberships of ``user_id``: group → expiry (UNIX time)."""
        now = time.time()
        with self._lock:
            groups = self._users.get((hub, user_id), {})
            return {name: expiry for name, expiry in groups.items() if expiry > now}


_ADD = """
local key, group, expiry, now, limit = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('HSET', key, group, ARGV[2])
local flat = redis.call('HGETALL', key)
local live, latest = {}, expiry
for i = 1, #flat, 2 do
  local ends = tonumber(flat[i + 1])
  if ends <= now then
    redis.call('HDEL', key, flat[i])
  else
    live[#live + 1] = {flat[i], ends}
    if ends > latest then latest = ends end
  end
end
if #live > limit then
  table.sort(live, function(a, b) return a[2] < b[2] end)
  for i = 1, #live - limit do redis.call('HDEL', key, live[i][1]) end
end
redis.call('PEXPIREAT', key, math.ceil(latest * 1000))
return 1
"""


class RedisUserGroups:
    """User-group memberships in Redis (``REALTIME["REDIS_URL"]``): one hash per user, group → expiry."""

    prefix = "realtime:usergroups:"

    def __init__(self) -> None:
        self._clients = LoopClients("RedisUserGroups")

    def _key(self, hub: str, user_id: str) -> str:
        digest = hashlib.blake2b(f"{hub}\0{user_id}".encode(), digest_size=16).hexdigest()
        return self.prefix + digest

    async def add(self, hub: str, user_id: str, group: str, until: float, *, limit: int) -> None:
        """Put ``user_id`` of ``hub`` in ``group`` until ``until`` (one script: atomic)."""
        client: Any = self._clients.get()
        args = [group, repr(until), repr(time.time()), max(limit, 1)]
        await client.eval(_ADD, 1, self._key(hub, user_id), *args)

    async def remove(self, hub: str, user_id: str, group: str) -> None:
        """End the membership of ``user_id`` in ``group``."""
        await self._clients.get().hdel(self._key(hub, user_id), group)

    async def clear(self, hub: str, user_id: str) -> None:
        """End every membership of ``user_id``."""
        await self._clients.get().delete(self._key(hub, user_id))

    async def groups(self, hub: str, user_id: str) -> dict[str, float]:
        """The live memberships of ``user_id``: group → expiry (UNIX time)."""
        now = time.time()
        found = await self._clients.get().hgetall(self._key(hub, user_id))
        return {name: float(expiry) for name, expiry in found.items() if float(expiry) > now}


def store() -> MemoryUserGroups | RedisUserGroups:
    """The configured store (``REALTIME["USER_GROUP_BACKEND"]``), created once per process."""
    return configured_backend("USER_GROUP_BACKEND")
