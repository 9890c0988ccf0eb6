"""The connection registry: which negotiated connection a connection token stands for.

Negotiate writes an entry; the transport request that claims the token reads it. Entries nobody claims
expire after ``DISCONNECT_TIMEOUT`` seconds.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from .conf import realtime_settings


def new_id() -> str:
    """An unguessable URL-safe id (128 random bits)."""
    return secrets.token_urlsafe(16)


@dataclass(slots=True)
class Entry:
    """A negotiated connection."""

    connection_id: str
    hub: str
    user_id: str | None = None
    expires: float = field(default=0.0)


class MemoryRegistry:
    """Registry for one process (the embedded default)."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    async def create(self, token: str, entry: Entry) -> None:
        """Remember ``entry`` under ``token`` until it is claimed or expires."""
        now = time.monotonic()
        self._purge(now)
        entry.expires = now + float(realtime_settings.DISCONNECT_TIMEOUT)
        self._entries[token] = entry

    async def claim(self, token: str) -> Entry | None:
        """Take the entry for ``token`` (once); ``None`` if unknown, claimed or expired."""
        entry = self._entries.pop(token, None)
        if entry is None or entry.expires < time.monotonic():
            return None
        return entry

    def _purge(self, now: float) -> None:
        expired = [token for token, entry in self._entries.items() if entry.expires < now]
        for token in expired:
            del self._entries[token]


_registry: MemoryRegistry | None = None


def registry() -> MemoryRegistry:
    """The configured registry (``REALTIME["REGISTRY_BACKEND"]``), created once per process."""
    global _registry
    if _registry is None or not isinstance(_registry, realtime_settings.REGISTRY_BACKEND):
        _registry = realtime_settings.REGISTRY_BACKEND()
    return _registry
