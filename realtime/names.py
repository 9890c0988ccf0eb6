"""Every channel-layer name ``realtime`` uses, built in one place.

Layer names allow ASCII letters, digits, ``-``, ``_`` and ``.`` and must stay under 100 characters,
so user-supplied parts (group names, user ids, hub names) are hashed.
"""

from __future__ import annotations

import hashlib

PREFIX = "realtime"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


CHANNEL_CAPACITY_PATTERN = f"*!{PREFIX}.*"
"""A ``channel_capacity`` pattern of channels_redis that matches this process's own channels and no other."""


def own_channel(fresh: str) -> str:
    """This process's name for ``fresh``, a name the layer's ``new_channel()`` just made.

    The layer's default prefix stays: channels_redis reads every channel of a process whose names share the
    part before ``!`` from one Redis list, under one lock, and a channel of another prefix is starved by the
    receive holding that lock (its messages arrive only when a blocking read times out, 5 s later). So the
    process channel, its reply channels and the app's own consumers share one prefix, and the local part,
    after ``!``, starts with ``realtime.`` for :data:`CHANNEL_CAPACITY_PATTERN`.
    """
    head, mark, local = fresh.partition("!")
    return f"{head}!{PREFIX}.{local}" if mark else fresh


def hub_all(hub: str) -> str:
    """Layer group of every process that has a connection to ``hub``."""
    return f"{PREFIX}.all.{_digest(hub)}"


def group(hub: str, name: str) -> str:
    """Layer group of the processes that have members of hub group ``name``."""
    return f"{PREFIX}.grp.{_digest(hub + chr(0) + name)}"


def is_hub_group(layer_group: str) -> bool:
    """Whether ``layer_group`` is the layer group of a hub group (made by :func:`group`)."""
    return layer_group.startswith(f"{PREFIX}.grp.")


def user(hub: str, user_id: str) -> str:
    """Layer group of the processes that have connections of ``user_id`` to ``hub``."""
    return f"{PREFIX}.usr.{_digest(hub + chr(0) + user_id)}"


def connection(connection_id: str) -> str:
    """Layer group of the one process that owns ``connection_id``."""
    return f"{PREFIX}.con.{_digest(connection_id)}"


def probe(channel: str) -> str:
    """Layer group that only the process channel ``channel`` is in (``lifetime.ProcessChannel`` probes)."""
    return f"{PREFIX}.prb.{_digest(channel)}"


def topic(name: str) -> str:
    """Layer group of the processes that stream SSE topic ``name`` (``realtime.eventstream``)."""
    return f"{PREFIX}.sse.{_digest(name)}"
