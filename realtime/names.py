"""Every channel-layer name ``realtime`` uses, built in one place.

Layer names allow ASCII letters, digits, ``-``, ``_`` and ``.`` and must stay under 100 characters,
so user-supplied parts (group names, user ids, hub names) are hashed; connection ids, which realtime makes
URL-safe, are used as they are.
"""

from __future__ import annotations

import functools
import hashlib
import re

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


@functools.cache  # one string per hub, however many connections it has
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


CONNECTION_PREFIX = f"{PREFIX}.con."
_LAYER_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def connection(connection_id: str) -> str:
    """Layer group of the one process that owns ``connection_id``.

    The ids ``realtime`` makes (URL-safe base64) are valid in layer names as they are, so the group names its
    connection (see :func:`connection_id_of`); any other string names no connection and is hashed, which keeps
    the group name valid.
    """
    if _LAYER_SAFE_ID.fullmatch(connection_id):
        return CONNECTION_PREFIX + connection_id
    return f"{PREFIX}.cox.{_digest(connection_id)}"


def connection_id_of(layer_group: str) -> str | None:
    """The id of the connection whose :func:`connection` group ``layer_group`` is; ``None`` for other groups."""
    return layer_group[len(CONNECTION_PREFIX) :] if layer_group.startswith(CONNECTION_PREFIX) else None


def probe(channel: str) -> str:
    """Layer group that only the process channel ``channel`` is in (``lifetime.ProcessChannel`` probes)."""
    return f"{PREFIX}.prb.{_digest(channel)}"


def topic(name: str) -> str:
    """Layer group of the processes that stream SSE topic ``name`` (``realtime.eventstream``)."""
    return f"{PREFIX}.sse.{_digest(name)}"
