"""``HubPresence``: who is connected to a hub, in hubs (``self.presence``) and anywhere else.

Views, Celery tasks and management commands use ``get_hub_context(Hub).presence`` (sync twins: ``*_sync``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..clients import run_sync
from .base import GROUP, HUB, USER, PresenceEntry, PresenceError, PresenceScope, PresenceUser, check_group_name
from .tracker import store, tracks

if TYPE_CHECKING:
    from ..hubs import Hub


class HubPresence:
    """Read the presence of one hub's connections, across every process that shares the backend.

    ``group=None`` means the whole hub (every connection). An unknown or empty group has no members.
    The methods are async; each has a sync twin ``<name>_sync`` that refuses to run inside an event loop.
    Raises ``PresenceError`` when the hub does not track presence or a group name is not a non-empty str.
    Members join and leave through ``groups.add(connection_id, group, metadata=...)`` and ``groups.remove``.
    """

    __slots__ = ("hub",)

    def __init__(self, hub: type[Hub]) -> None:
        self.hub = hub

    def _scope(self, group: str | None, kind: str = GROUP) -> PresenceScope:
        if not tracks(self.hub):
            raise PresenceError(f"{self.hub.__qualname__} does not track presence: set track_presence = True.")
        if group is None:
            return PresenceScope(self.hub.hub_name(), HUB, "")
        return PresenceScope(self.hub.hub_name(), kind, check_group_name(group) if kind == GROUP else str(group))

    async def members(self, group: str | None = None) -> list[PresenceEntry]:
        """The entries of ``group`` (or of the hub), oldest connection first."""
        entries = await store().members(self._scope(group))
        return sorted(entries, key=lambda entry: (entry.connected_at, entry.connection_id))

    async def connection_ids(self, group: str | None = None) -> list[str]:
        """The sorted connection ids in ``group`` (or in the hub); cheaper than :meth:`members`."""
        return sorted(await store().connection_ids(self._scope(group)))

    async def count(self, group: str | None = None) -> int:
        """How many connections are in ``group`` (or in the hub), without listing them."""
        return await store().count(self._scope(group))

    async def users(self, group: str | None = None) -> list[PresenceUser]:
        """The members of ``group`` (or of the hub) by user, sorted by identifier.

        One user with three tabs is one user with three entries; each anonymous connection follows as a user
        of its own.
        """
        by_user: dict[str, list[PresenceEntry]] = {}
        anonymous: list[PresenceUser] = []
        for entry in await self.members(group):
            if entry.user_id is None:
                anonymous.append(PresenceUser(None, [entry]))
            else:
                by_user.setdefault(entry.user_id, []).append(entry)
        return [PresenceUser(user_id, entries) for user_id, entries in sorted(by_user.items())] + anonymous

    async def is_online(self, user_id: str) -> bool:
        """Whether user ``user_id`` (the ``USER_ID_PROVIDER`` identifier) has a connection to the hub."""
        return await store().count(self._scope(str(user_id), USER)) > 0

    async def is_connected(self, connection_id: str) -> bool:
        """Whether connection ``connection_id`` is connected to the hub, on any process."""
        return await store().contains(self._scope(None), str(connection_id))

    async def user_connection_ids(self, user_id: str) -> list[str]:
        """The sorted ids of user ``user_id``'s connections to the hub; cheaper than :meth:`user_connections`."""
        return sorted(await store().connection_ids(self._scope(str(user_id), USER)))

    async def user_connections(self, user_id: str) -> list[PresenceEntry]:
        """The entries of user ``user_id``'s connections to the hub, oldest first."""
        entries = await store().members(self._scope(str(user_id), USER))
        return sorted(entries, key=lambda entry: (entry.connected_at, entry.connection_id))

    async def groups(self) -> dict[str, int]:
        """Every group of the hub that has members, with its member count, sorted by name."""
        self._scope(None)
        return dict(sorted((await store().names(self.hub.hub_name(), GROUP)).items()))

    def _sync(self, method: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
        async def call() -> Any:
            async with store().session():
                return await method(*args)

        call.__name__, call.__qualname__ = method.__name__, method.__qualname__
        return run_sync(call)

    def members_sync(self, group: str | None = None) -> list[PresenceEntry]:
        """Sync twin of :meth:`members`."""
        return self._sync(self.members, group)

    def connection_ids_sync(self, group: str | None = None) -> list[str]:
        """Sync twin of :meth:`connection_ids`."""
        return self._sync(self.connection_ids, group)

    def count_sync(self, group: str | None = None) -> int:
        """Sync twin of :meth:`count`."""
        return self._sync(self.count, group)

    def users_sync(self, group: str | None = None) -> list[PresenceUser]:
        """Sync twin of :meth:`users`."""
        return self._sync(self.users, group)

    def is_online_sync(self, user_id: str) -> bool:
        """Sync twin of :meth:`is_online`."""
        return self._sync(self.is_online, user_id)

    def is_connected_sync(self, connection_id: str) -> bool:
        """Sync twin of :meth:`is_connected`."""
        return self._sync(self.is_connected, connection_id)

    def user_connection_ids_sync(self, user_id: str) -> list[str]:
        """Sync twin of :meth:`user_connection_ids`."""
        return self._sync(self.user_connection_ids, user_id)

    def user_connections_sync(self, user_id: str) -> list[PresenceEntry]:
        """Sync twin of :meth:`user_connections`."""
        return self._sync(self.user_connections, user_id)

    def groups_sync(self) -> dict[str, int]:
        """Sync twin of :meth:`groups`."""
        return self._sync(self.groups)
