"""Presence: which connections are in which hub group, across processes, with join/leave diffs.

Hubs opt in with ``track_presence = True`` (or ``REALTIME["TRACK_PRESENCE"]``). Their connections get an
entry (connection id, user identifier, connected-at, metadata) in the hub, in their user, and in every
group they join; group members receive ``PresenceChanged({"group", "joined", "left"})`` (``presence_event``).
Read it with ``self.presence`` in hubs and ``get_hub_context(Hub).presence`` elsewhere (:class:`HubPresence`).

``PRESENCE_BACKEND`` chooses the store: :class:`~realtime.presence.memory.MemoryPresence` (one process, the
default) or :class:`~realtime.presence.redis.RedisPresence` (every process with the same ``REDIS_URL``).
"""

from __future__ import annotations

from .api import HubPresence
from .base import PresenceBackend, PresenceEntry, PresenceError, PresenceUser, check_group_name, normalize_metadata
from .tracker import store, tracker, tracks

__all__ = [
    "HubPresence",
    "PresenceBackend",
    "PresenceEntry",
    "PresenceError",
    "PresenceUser",
    "check_group_name",
    "normalize_metadata",
    "presence",
    "tracker",
    "tracks",
]


presence = store
"""The configured presence backend (``REALTIME["PRESENCE_BACKEND"]``), created once per process."""
