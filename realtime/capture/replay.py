"""Replay: the captured changes a subscriber missed after the last event id it saw, from the outbox.

The outbox keeps the newest ``CAPTURE_HISTORY_SIZE`` events. A hub method replays to its caller::

    class ShopHub(Hub):
        async def ChangesSince(self, last_id: str):
            return await replay_to_caller(self, Order, last_id)

The caller gets the changes it may see (its groups, the registration's ``audience``) as the same invocations
the live stream sends, then the method answers ``{"lastEventId": "<id>", "complete": true}``. When the
history no longer reaches back to ``last_id`` (or does not know it), the caller gets the loss signal
``CaptureReset({"lastEventId": last_id})`` instead, as after a gap, and ``complete`` is ``false``: refetch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.db import connections, models

from ..conf import realtime_settings
from . import rows as row_values
from . import sql
from .publisher import RESET_METHOD
from .registration import Capture, captures

if TYPE_CHECKING:
    from ..hubs import Hub

__all__ = ["Missed", "changes_since", "replay_to_caller"]


@dataclass(frozen=True, slots=True)
class Missed:
    """What :func:`changes_since` found."""

    changes: list[tuple[int, Capture, models.Model | None, str]]
    """``(event id, registration, row, op letter)``, oldest first (no row for a truncate)."""
    last_id: int
    """The newest event id (the position to remember)."""
    complete: bool
    """``False`` when the history does not reach back to the id asked for."""


def changes_since(after: int, model: type[models.Model] | None = None, limit: int = 10_000) -> Missed:
    """The committed changes after event id ``after`` (of ``model`` only, when given), at most ``limit``."""
    alias = realtime_settings.CAPTURE_DATABASE
    with connections[alias].cursor() as cursor:
        cursor.execute(sql.STATE)
        _published, pruned = cursor.fetchone()
        cursor.execute(sql.LAST_EVENT)
        newest = int(cursor.fetchone()[0])
        if after < pruned or after > newest:
            return Missed([], newest, False)
        cursor.execute(sql.CHANGES, {"after": after, "limit": limit})
        found = cursor.fetchall()
    changes = []
    for event_id, table, op, text in found:
        for capture in captures():
            if capture.table == table and (model is None or capture.model is model):
                changes.append((event_id, capture, row_values.instance_of(capture.model, op, text, alias), op))
    last = found[-1][0] if found else after
    return Missed(changes, last, len(found) < limit)


async def replay_to_caller(hub: Hub, model: type[models.Model] | None, last_id: Any) -> dict[str, Any]:
    """Send the caller of ``hub`` the changes after ``last_id`` it may see; see the module docstring."""
    try:
        after = int(last_id)
    except (TypeError, ValueError):
        after = -1
    missed = await sync_to_async(changes_since)(after, model)
    caller = hub.clients.caller
    context = hub.context
    if not missed.complete:
        await caller.asend(RESET_METHOD, {"lastEventId": str(last_id)})
        return {"lastEventId": str(missed.last_id), "complete": False}
    for _event_id, capture, instance, op in missed.changes:
        if isinstance(hub, capture.hub) and _visible(capture, instance, context):
            method, argument = capture.invocation(instance, op)
            await caller.asend(method, argument)
    return {"lastEventId": str(missed.last_id), "complete": True}


def _visible(capture: Capture, instance: models.Model | None, context: Any) -> bool:
    groups = capture.groups_for(instance)
    if groups is not None and not any(context.in_group(group) for group in groups):
        return False
    users = capture.users_for(instance)
    return users is None or context.user_identifier in users
