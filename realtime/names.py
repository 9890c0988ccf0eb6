"""Every channel-layer name ``realtime`` uses, built in one place.

Layer names allow ASCII letters, digits, ``-``, ``_`` and ``.`` and must stay under 100 characters,
so user-supplied parts (group names, user ids, hub names) are hashed.
"""

from __future__ import annotations

import hashlib

PREFIX = "realtime"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def specific_channel_prefix() -> str:
    """Prefix of this process's own channels: its process channel and its reply channels.

    They must share one prefix: channels_redis reads every ``new_channel()`` name with the same prefix
    from one Redis list, under one lock; a second prefix would be starved by the process channel's
    blocking receive (replies arrived only when that receive timed out).
    """
    return f"{PREFIX}.local."


def hub_all(hub: str) -> str:
    """Layer group of every process that has a connection to ``hub``."""
    return f"{PREFIX}.all.{_digest(hub)}"


def group(hub: str, name: str) -> str:
    """Layer group of the processes that have members of hub group ``name``."""
    return f"{PREFIX}.grp.{_digest(hub + chr(0) + name)}"


def user(hub: str, user_id: str) -> str:
    """Layer group of the processes that have connections of ``user_id`` to ``hub``."""
    return f"{PREFIX}.usr.{_digest(hub + chr(0) + user_id)}"


def connection(connection_id: str) -> str:
    """Layer group of the one process that owns ``connection_id``."""
    return f"{PREFIX}.con.{_digest(connection_id)}"


def topic(name: str) -> str:
    """Layer group of the processes that stream SSE topic ``name`` (``realtime.sse``)."""
    return f"{PREFIX}.sse.{_digest(name)}"
