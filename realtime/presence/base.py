"""The presence data types and the interface every presence backend implements.

A backend stores *entries* (one per connection) in *scopes*: a hub group (``group``), the whole hub
(``hub``, every tracked connection) or one user (``user``, that user's connections). Every entry carries
an expiry that only its owning process pushes forward (:meth:`PresenceBackend.refresh`, seldom), and
every process a short liveness expiry that it pushes forward often (:meth:`PresenceBackend.alive`, one
cheap write whatever the number of entries). :meth:`PresenceBackend.sweep` removes the entries of
processes whose liveness expired and returns them so their ``left`` diffs can be sent. Backends know
nothing about hubs, layers or diffs: ``tracker.py`` does.
"""

from __future__ import annotations

import abc
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..exceptions import HubError
from ..protocol.values import json_default

GROUP = "group"
"""PresenceScope kind of a hub group (the only kind whose changes are announced)."""
HUB = "hub"
"""PresenceScope kind of every tracked connection of a hub (``name`` is empty)."""
USER = "user"
"""PresenceScope kind of the connections of one user (``name`` is the user identifier)."""


class PresenceError(HubError):
    """Presence refused an operation: bad group name, oversize metadata, too many groups, untracked hub.

    A ``HubError``: raised inside a hub method, its text reaches the client.
    """


class PresenceScope(NamedTuple):
    """Where entries live: ``kind`` (``group``, ``hub`` or ``user``) ``name`` of hub ``hub`` (its import path)."""

    hub: str
    kind: str
    name: str


@dataclass(slots=True)
class PresenceEntry:
    """One connection's presence: who, since when, and the metadata the hub added (treat it as read-only).

    Not frozen: listing 10,000 members builds 10,000 of them, and a frozen dataclass is 5x slower to build.
    """

    connection_id: str
    user_id: str | None
    connected_at: float
    """UNIX time of the connection's handshake."""
    metadata: dict[str, Any] = field(default_factory=dict)

    def dumps(self) -> str:
        """The compact JSON object stored by backends."""
        data = {"c": self.connection_id, "u": self.user_id, "t": self.connected_at, "m": self.metadata}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PresenceEntry:
        """The entry of the decoded JSON object :meth:`dumps` wrote."""
        return cls(data["c"], data["u"], data["t"], data["m"])


@dataclass(slots=True)
class PresenceUser:
    """One user and their connections (tabs, devices); an anonymous connection is a user of its own."""

    user_id: str | None
    entries: list[PresenceEntry]


def normalize_metadata(
    metadata: Mapping[str, Any] | None, limit: int, base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON-normalized copy of ``base`` updated with ``metadata`` (values encoded as hubs encode them:
    a datetime becomes the string clients would get).

    ``PresenceError`` unless ``metadata`` is a JSON object and the result is ``limit`` bytes of JSON or less.
    """
    if metadata is not None and (
        not isinstance(metadata, Mapping) or not all(isinstance(key, str) for key in metadata)
    ):
        raise PresenceError("Presence metadata must be a JSON object with string keys.")
    try:
        merged = {**(base or {}), **(metadata or {})}
        text = json.dumps(merged, separators=(",", ":"), allow_nan=False, default=json_default)
    except (TypeError, ValueError) as exc:
        raise PresenceError(f"Presence metadata is not JSON-serializable: {exc}") from None
    size = len(text.encode("utf-8"))
    if size > limit:
        raise PresenceError(
            f"Presence metadata is {size} bytes as JSON; the limit is {limit} (PRESENCE_MAX_METADATA_SIZE)."
        )
    return json.loads(text)


def check_group_name(group: Any) -> str:
    """``group`` if it is a non-empty string, else ``PresenceError``."""
    if not isinstance(group, str) or not group:
        raise PresenceError(f"Group names are non-empty strings, not {group!r}.")
    return group


class PresenceBackend(abc.ABC):
    """Storage of presence entries, shared by every process that uses the same backend instance or server.

    ``process`` names the calling process (its tracker); ``ttl`` is in seconds. Every method is atomic per
    call: two processes sweeping at once never both return the same removed entry.
    """

    @abc.abstractmethod
    async def join(
        self,
        process: str,
        connection_id: str,
        entries: Sequence[tuple[PresenceScope, PresenceEntry]],
        ttl: float,
        liveness: float | None = None,
    ) -> list[bool]:
        """Add or overwrite the connection's entry in each scope; per scope, ``True`` if it was not there.

        Also marks ``process`` alive for ``liveness`` seconds (default ``ttl``), so that its entries are
        swept if it dies before its next :meth:`alive`.
        """

    @abc.abstractmethod
    async def leave(self, process: str, connection_id: str, scopes: Sequence[PresenceScope]) -> list[bool]:
        """Remove the connection from each scope; per scope, ``True`` if it was there and ``process`` owned it
        (an entry that another process took over stays)."""

    @abc.abstractmethod
    async def take(
        self, process: str, connection_id: str, ttl: float, liveness: float | None = None
    ) -> list[tuple[PresenceScope, PresenceEntry]]:
        """Make ``process`` the owner of every live entry of the connection, pushing their expiry to now + ``ttl``,
        and return them: a process took the connection over (stateful reconnect), so its old owner's removals and
        the sweep of its old owner leave them alone. Marks ``process`` alive as :meth:`join` does.
        """

    @abc.abstractmethod
    async def refresh(self, process: str, items: Sequence[tuple[PresenceScope, str]], ttl: float) -> list[int]:
        """Push the expiry of each live ``(scope, connection_id)`` to now + ``ttl``.

        Returns the indexes of the items that were missing (swept, or lost by a restarted store): the caller
        writes them again with :meth:`join`.
        """

    @abc.abstractmethod
    async def alive(self, process: str, ttl: float) -> bool:
        """Mark ``process`` alive for ``ttl`` seconds (its entries are not touched).

        ``True`` if it had been given up for dead (its liveness expired or is gone: a sweeper may have taken
        its entries, or the store restarted empty): the caller should :meth:`refresh` its entries now.
        """

    @abc.abstractmethod
    async def sweep(self, process: str) -> list[tuple[PresenceScope, PresenceEntry]]:
        """Remove the entries of other processes whose liveness expired, and return them (each to one caller only).

        A backend without other processes removes the expired entries instead (their owner lost track of them).
        """

    @abc.abstractmethod
    async def members(self, scope: PresenceScope) -> list[PresenceEntry]:
        """The live (unexpired) entries of ``scope``, in no particular order; ``[]`` for an unknown scope."""

    @abc.abstractmethod
    async def connection_ids(self, scope: PresenceScope) -> list[str]:
        """The connection ids of the live entries of ``scope``, in no particular order."""

    @abc.abstractmethod
    async def count(self, scope: PresenceScope) -> int:
        """How many live entries ``scope`` has (cheap: no entry is read)."""

    async def contains(self, scope: PresenceScope, connection_id: str) -> bool:
        """Whether ``connection_id`` has a live entry in ``scope`` (backends answer without listing the scope)."""
        return connection_id in await self.connection_ids(scope)

    @abc.abstractmethod
    async def names(self, hub: str, kind: str) -> dict[str, int]:
        """Every scope name of ``kind`` in ``hub`` that has entries, with its live count."""

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Wrap one call from sync code: release what the running (throw-away) event loop opened inside."""
        yield
