"""In-process presence (the embedded default): one process, every thread and event loop of it.

Dicts behind a lock, so sync views and Celery tasks running in other threads read consistent state. There
are no other processes to die, so process liveness is moot: :meth:`MemoryPresence.sweep` removes the
entries whose own expiry passed (the tracker lost track of them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from .base import PresenceBackend, PresenceEntry, PresenceScope


class MemoryPresence(PresenceBackend):
    """Presence entries in this process's memory; nothing is shared with other processes."""

    def __init__(self) -> None:
        self._scopes: dict[PresenceScope, dict[str, tuple[PresenceEntry, float, str]]] = {}
        """Per scope: connection id → (entry, expiry on the monotonic clock, owning process)."""
        self._earliest = float("inf")
        """No entry expires before this (the sweep skips its scan until then)."""
        self._lock = threading.Lock()

    async def join(
        self,
        process: str,
        connection_id: str,
        entries: Sequence[tuple[PresenceScope, PresenceEntry]],
        ttl: float,
        liveness: float | None = None,
    ) -> list[bool]:
        """Add or overwrite the connection's entry in each scope; per scope, ``True`` if it was not there."""
        expiry = time.monotonic() + ttl
        added = []
        with self._lock:
            self._earliest = min(self._earliest, expiry)
            for scope, entry in entries:
                members = self._scopes.setdefault(scope, {})
                added.append(connection_id not in members)
                members[connection_id] = (entry, expiry, process)
        return added

    async def leave(self, process: str, connection_id: str, scopes: Sequence[PresenceScope]) -> list[bool]:
        """Remove the connection from each scope; per scope, ``True`` if it was there and ``process`` owned it."""
        removed = []
        with self._lock:
            for scope in scopes:
                members = self._scopes.get(scope)
                found = members.get(connection_id) if members is not None else None
                removed.append(found is not None and found[2] == process)
                if members is not None and removed[-1]:
                    del members[connection_id]
                    if not members:
                        del self._scopes[scope]
        return removed

    async def take(
        self, process: str, connection_id: str, ttl: float, liveness: float | None = None
    ) -> list[tuple[PresenceScope, PresenceEntry]]:
        """Make ``process`` the owner of every live entry of the connection; returns them."""
        now = time.monotonic()
        taken = []
        with self._lock:
            self._earliest = min(self._earliest, now + ttl)
            for scope, members in self._scopes.items():
                found = members.get(connection_id)
                if found is not None and found[1] > now:
                    members[connection_id] = (found[0], now + ttl, process)
                    taken.append((scope, found[0]))
        return taken

    async def refresh(self, process: str, items: Sequence[tuple[PresenceScope, str]], ttl: float) -> list[int]:
        """Push the expiry of each live item forward; returns the indexes of the missing ones."""
        expiry = time.monotonic() + ttl
        missing = []
        with self._lock:
            self._earliest = min(self._earliest, expiry)
            for index, (scope, connection_id) in enumerate(items):
                found = self._scopes.get(scope, {}).get(connection_id)
                if found is None:
                    missing.append(index)
                else:
                    self._scopes[scope][connection_id] = (found[0], expiry, found[2])
        return missing

    async def alive(self, process: str, ttl: float) -> bool:
        """Nothing to record: this process is the only one, and alive. Never given up for dead: ``False``."""
        return False

    async def sweep(self, process: str) -> list[tuple[PresenceScope, PresenceEntry]]:
        """Remove every expired entry (this process has no peers; expired means its owner lost track).

        Scans the entries only once the earliest expiry has passed, so calling it often costs nothing.
        """
        now = time.monotonic()
        removed = []
        with self._lock:
            if now < self._earliest:
                return []
            earliest = float("inf")
            for scope, members in list(self._scopes.items()):
                for connection_id, (entry, expiry, _) in list(members.items()):
                    if expiry <= now:
                        del members[connection_id]
                        removed.append((scope, entry))
                    else:
                        earliest = min(earliest, expiry)
                if not members:
                    del self._scopes[scope]
            self._earliest = earliest
        return removed

    def _live(self, scope: PresenceScope) -> list[PresenceEntry]:
        now = time.monotonic()
        with self._lock:
            return [entry for entry, expiry, _ in self._scopes.get(scope, {}).values() if expiry > now]

    async def members(self, scope: PresenceScope) -> list[PresenceEntry]:
        """The live entries of ``scope``."""
        return self._live(scope)

    async def connection_ids(self, scope: PresenceScope) -> list[str]:
        """The connection ids of the live entries of ``scope``."""
        return [entry.connection_id for entry in self._live(scope)]

    async def count(self, scope: PresenceScope) -> int:
        """How many live entries ``scope`` has (no list is built)."""
        now = time.monotonic()
        with self._lock:
            return sum(1 for _, expiry, _ in self._scopes.get(scope, {}).values() if expiry > now)

    async def contains(self, scope: PresenceScope, connection_id: str) -> bool:
        """Whether ``connection_id`` has a live entry in ``scope``."""
        with self._lock:
            found = self._scopes.get(scope, {}).get(connection_id)
        return found is not None and found[1] > time.monotonic()

    async def names(self, hub: str, kind: str) -> dict[str, int]:
        """Every scope name of ``kind`` in ``hub`` with live entries, with its count."""
        with self._lock:
            scopes = [scope for scope in self._scopes if scope.hub == hub and scope.kind == kind]
        counts = {scope.name: await self.count(scope) for scope in scopes}
        return {name: count for name, count in counts.items() if count}
