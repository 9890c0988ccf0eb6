"""The outbox as the SSE history of captured topics: ``TopicStreamView`` replays after a ``Last-Event-ID``.

A topic that a registration names in ``capture_model(..., topics=[...])`` keeps no history of its own: its
events are the outbox's changes of the registrations that publish to it, their ids the outbox event ids
(increasing in commit order, not consecutive within a topic). A stream that reconnects with the last id it
saw gets the changes after it that its user may see (``audience``); when the outbox no longer reaches back
to that id (pruned past it) or does not know it, the stream gets the topics' loss signal, the
``stream-reset`` event, as with any history. Events are published by the database only: ``apublish`` to a
captured topic is refused.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.db import connections

from ..conf import realtime_settings
from ..eventstream.history import Replay, StoredEvent, register_topics
from ..eventstream.response import to_json
from ..eventstream.topics import TopicError
from . import sql
from .registration import captured_topic
from .replay import changes_since

__all__ = ["OutboxHistory"]


def _newest() -> int:
    with connections[realtime_settings.CAPTURE_DATABASE].cursor() as cursor:
        cursor.execute(sql.LAST_EVENT)
        return int(cursor.fetchone()[0])


def _since(topic: str, after: int | None) -> Replay:
    if after is None:
        return Replay([], _newest(), True)
    missed = changes_since(after, limit=int(realtime_settings.SSE_HISTORY_SIZE))
    if not missed.complete:
        return Replay([], max(missed.last_id, _newest()), False)
    events = []
    for event_id, capture, instance, op in missed.changes:
        if topic in capture.topics:
            method, argument = capture.invocation(instance, op)
            users = capture.users_for(instance)
            found = None if users is None else frozenset(users)
            events.append(StoredEvent(event_id, method, to_json(argument), found))
    return Replay(events, missed.last_id, True)


class OutboxHistory:
    """The history backend of the captured topics (registered for them when ``realtime.capture`` is imported)."""

    async def append(self, topic: str, event: str | None, data: str) -> int:
        """Refused: the database publishes to a captured topic."""
        raise TopicError(f"SSE topic {topic!r} carries captured changes: only the database publishes to it.")

    async def since(self, topic: str, after: int | None) -> Replay:
        """The captured changes of ``topic`` after event id ``after`` (``None``: only the newest id)."""
        return await sync_to_async(_since)(topic, after)

    async def release_loop(self) -> None:
        """Nothing to close."""


register_topics(captured_topic, OutboxHistory())
