"""Group membership: add a connection to a named hub group, or remove it; put a user's connections in one.

A user-group membership (:meth:`GroupManager.add_user`) lasts until a time: it is written to the
``USER_GROUP_BACKEND`` store, applied to the user's connections of now (found through presence), and applied by
each process to the user's connections that connect later (this module takes part in every connection's life).
The process that owns a connection removes it from the group when the membership expires.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied

from . import events, lifetime, local, loops, names, presence, user_groups
from .conf import hub_option, realtime_settings
from .exceptions import GroupError, HubError
from .participants import take_part

if TYPE_CHECKING:
    from .connection import HubConnection
    from .hubs import Hub

logger = logging.getLogger("realtime.groups")

GROUP_CHANGE_TIMEOUT = 10.0


class GroupManager:
    """``self.groups`` in hubs and ``get_hub_context(Hub).groups`` elsewhere.

    Works for connections owned by any process; memberships end when the connection closes (a
    reconnect is a new connection and must join again, as in SignalR). For hubs that track presence,
    every change also updates the connection's presence entry and announces it to the group.
    """

    __slots__ = ("hub", "guard")

    def __init__(self, hub: type[Hub], *, guard: Callable[[str, str], Awaitable[bool]] | None = None) -> None:
        self.hub = hub
        self.guard = guard

    async def add(self, connection_id: str, group: str, *, metadata: Mapping[str, Any] | None = None) -> None:
        """Add ``connection_id`` to ``group``; returns once sends to the group reach it.

        ``metadata`` (a JSON object; hubs that track presence only) goes into the connection's presence
        entry in this group, over what the hub's ``presence_metadata()`` gave. Raises ``PermissionDenied``
        when the hub's ``can_join_group`` refuses (inside hub methods); ``GroupError`` for a connection already
        in ``MAX_GROUPS`` groups; ``PresenceError`` for an empty group name or oversize metadata.
        """
        if metadata is not None and not presence.tracks(self.hub):
            raise presence.PresenceError(f"{self.hub.__qualname__} does not track presence: metadata needs it.")
        if self.guard is not None and not await self.guard(connection_id, group):
            raise PermissionDenied(f"Joining group {group!r} is not allowed.")
        await self._change(connection_id, group, add=True, metadata=metadata)

    async def remove(self, connection_id: str, group: str) -> None:
        """Remove ``connection_id`` from ``group``."""
        await self._change(connection_id, group, add=False)

    discard = remove

    async def remove_from_all(self, connection_id: str) -> None:
        """Remove ``connection_id`` from every group it is in."""
        await self._change(connection_id, None, add=False)

    async def add_user(self, user_id: str, group: str, *, ttl: float | None = None) -> None:
        """Put user ``user_id`` in ``group``: the connections of now, and those that connect within ``ttl``
        seconds (a year when ``None``, and at most; ``0``: only those of now), until ``ttl`` passes.

        Returns once sends to the group reach the connections of now. Raises ``PresenceError`` unless the hub
        tracks presence (it finds them), and ``GroupError`` for a connection already in ``MAX_GROUPS`` groups.
        """
        presence.check_group_name(group)
        until = None
        if ttl is None or ttl > 0:
            until = time.time() + min(user_groups.YEAR if ttl is None else float(ttl), user_groups.YEAR)
            limit = int(hub_option(self.hub, "MAX_GROUPS"))
            await user_groups.store().add(self.hub.hub_name(), str(user_id), group, until, limit=limit)
        await self._each_of_user(user_id, group, add=True, until=until)

    async def remove_user(self, user_id: str, group: str) -> None:
        """End user ``user_id``'s membership in ``group``; their connections leave it."""
        await user_groups.store().remove(self.hub.hub_name(), str(user_id), group)
        await self._each_of_user(user_id, group, add=False)

    async def remove_user_from_all(self, user_id: str) -> None:
        """End every group membership of user ``user_id``; their connections leave every group."""
        await user_groups.store().clear(self.hub.hub_name(), str(user_id))
        await self._each_of_user(user_id, None, add=False)

    async def user_groups(self, user_id: str) -> dict[str, float]:
        """The groups user ``user_id`` is in (:meth:`add_user`), with when each membership expires (UNIX time)."""
        return await user_groups.store().groups(self.hub.hub_name(), str(user_id))

    async def _each_of_user(self, user_id: str, group: str | None, *, add: bool, until: float | None = None) -> None:
        """Apply a change to each connection of ``user_id`` now; one that is gone meanwhile is skipped."""
        connection_ids = await presence.HubPresence(self.hub).user_connection_ids(str(user_id))
        changes = [self._change(cid, group, add=add, until=until) for cid in connection_ids]
        failures = [r for r in await asyncio.gather(*changes, return_exceptions=True) if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, LookupError):
                raise failure

    async def _change(
        self,
        connection_id: str,
        group: str | None,
        *,
        add: bool,
        metadata: Mapping[str, Any] | None = None,
        until: float | None = None,
    ) -> None:
        connection = local.find(connection_id)
        if connection is not None:
            await apply_change(connection, group, add=add, metadata=metadata, until=until)
            return
        if add and presence.tracks(self.hub):  # refuse bad input here rather than in the owner
            presence.check_group_name(group)
            metadata = presence.normalize_metadata(metadata, int(realtime_settings.PRESENCE_MAX_METADATA_SIZE))
        event = events.group_change(connection_id, group, add=add, metadata=metadata, until=until)
        try:
            reply = await lifetime.request(names.connection(connection_id), event, timeout=GROUP_CHANGE_TIMEOUT)
        except TimeoutError:
            raise LookupError(f"Connection '{connection_id}' is not connected to any server.") from None
        if reply.get("error"):
            raise (GroupError if reply.get("limit") else presence.PresenceError)(reply["error"])


async def apply_change(
    connection: HubConnection,
    group: str | None,
    *,
    add: bool,
    metadata: Mapping[str, Any] | None = None,
    until: float | None = None,
) -> None:
    """Change a membership in the process that owns ``connection``: its layer group, and its presence.

    ``group`` ``None`` (with ``add`` false) leaves every group; an addition ``until`` a UNIX time ends then,
    unless the user's membership was renewed meanwhile.
    """
    if group is None:
        await _leave_all(connection)
        return
    _expiry_ends(connection.connection_id, group)
    layer_group = names.group(connection.hub.hub_name(), group)
    if add and presence.tracks(connection.hub):
        await presence.tracker().join(connection, group, metadata, admit=lambda: _join(connection, layer_group))
    elif add:
        await _join(connection, layer_group)
    else:
        local.table().leave(connection, layer_group)
        if presence.tracks(connection.hub):
            await presence.tracker().leave(connection.connection_id, group)
    if add and until is not None:
        _expiries.get()[connection.connection_id, group] = connection.spawn(_expire(connection, group, until))


async def _leave_all(connection: HubConnection) -> None:
    """Leave every hub group: by name where presence knows them, then whatever layer group is left."""
    tracked = presence.tracker().groups_of(connection.connection_id) if presence.tracks(connection.hub) else []
    for group in tracked:
        await apply_change(connection, group, add=False)
    for layer_group in list(connection.hub_groups):
        local.table().leave(connection, layer_group)
    for key in [key for key in _expiries.get() if key[0] == connection.connection_id]:
        _expiry_ends(*key)


_expiries: loops.PerLoop[dict[tuple[str, str], asyncio.Task[None]]] = loops.PerLoop(dict)
"""Per event loop: (connection id, group) → the task that ends that user-group membership."""


def _expiry_ends(connection_id: str, group: str) -> None:
    """Forget (and cancel) the expiry of a membership that changed, unless the expiry itself is running."""
    task = _expiries.get().pop((connection_id, group), None)
    if task is not None and task is not asyncio.current_task():
        task.cancel()


async def _expire(connection: HubConnection, group: str, until: float) -> None:
    """Remove ``connection`` from ``group`` at ``until``, or later if its user's membership was renewed."""
    user_id = connection.user_id or ""
    while (wait := until - time.time()) > 0:
        await asyncio.sleep(wait)
        try:
            until = (await user_groups.store().groups(connection.hub.hub_name(), user_id)).get(group, 0.0)
        except Exception:
            logger.warning("realtime: reading %s's groups failed; %r ends now", user_id, group, exc_info=True)
            break
    _expiries.get().pop((connection.connection_id, group), None)
    await apply_change(connection, group, add=False)


async def _join(connection: HubConnection, layer_group: str) -> None:
    """Join ``layer_group`` unless that would put the connection in more than ``MAX_GROUPS`` hub groups.

    Counted and joined without an await in between, so concurrent joins cannot pass the bound together.
    """
    if layer_group not in connection.hub_groups:
        limit = int(hub_option(connection.hub, "MAX_GROUPS"))
        if len(connection.hub_groups) >= limit:
            raise GroupError(f"Connection '{connection.connection_id}' is already in {limit} groups (MAX_GROUPS).")
    await local.table().join(connection, layer_group)


async def _answer_group(event: events.Event) -> None:
    """Apply a group change another process asked for (a connection of this one); reply with refusals."""
    connection = local.find(event["connection_id"])
    if connection is None:
        return
    reply: dict[str, Any] = {}
    try:
        await apply_change(
            connection, event["name"], add=event["add"], metadata=event.get("metadata"), until=event.get("until")
        )
    except HubError as exc:  # PresenceError or GroupError
        reply = {"error": str(exc), "limit": isinstance(exc, GroupError)}
    await lifetime.send(event["reply_channel"], events.result(**reply))


lifetime.route(events.GROUP, lambda event: loops.services().spawn(_answer_group(event)))


class _UserGroups:
    """User-group memberships' part in each connection's life: a user's connection joins their groups."""

    async def connected(self, connection: HubConnection) -> None:
        if connection.user_id is None:
            return
        try:
            memberships = await user_groups.store().groups(connection.hub.hub_name(), connection.user_id)
        except Exception:
            logger.warning("realtime: reading %s's groups failed", connection.user_id, exc_info=True)
            return
        for group, until in memberships.items():
            try:
                await apply_change(connection, group, add=True, until=until)
            except Exception as exc:  # a refusal (GroupError) or a layer failure: the connection goes on
                logger.warning("realtime: %s not put in its user's group %r: %r", connection, group, exc)

    async def disconnected(self, connection: HubConnection) -> None:
        return None

    async def adopted(self, connection: HubConnection) -> None:
        await self.connected(connection)  # memberships given to the user while no process had the connection

    async def let_go(self, connection: HubConnection) -> None:
        return None


take_part(_UserGroups())
