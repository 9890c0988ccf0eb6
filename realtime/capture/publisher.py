"""The publisher: reads committed changes from the outbox in commit order and sends them over the channel layer.

Every process (or the ``manage.py realtime_capture run`` worker) runs one :class:`Publisher`; one of them at a
time leads, the one holding the PostgreSQL session advisory lock :data:`~.sql.LEADER_LOCK` on its own
connection. The others stand by and try the lock every ``CAPTURE_STANDBY_INTERVAL`` seconds, so when the
leader's connection ends (its process died, ``pg_terminate_backend``, a restart) another takes over.

The leader reads the changes after its durable position (``realtime_capture_state.published``), sends them
to the layer groups of their registrations (one layer message per group for each batch read), then stores
the position. A leader that fails between sending and storing is followed by one that sends those changes
again with the same event ids; every process drops an id it delivered to a group already
(``local.LocalTable.deliver_changes``), so each client gets each change once. Changes the outbox no longer
holds (pruned or deleted before they were sent) are a gap that cannot be recovered: the hubs' clients get
``CaptureReset({"lastEventId": ...})`` and the stream goes on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections

from .. import lifetime, loops, names
from ..clients import encode_invocation
from ..conf import realtime_settings
from ..events import CapturedChange, TopicItem
from ..events import capture as capture_event
from ..events import frame as frame_event
from ..events import topic as topic_event
from . import rows as row_values
from . import sql
from .registration import Delivery, captures, captures_of_table

logger = logging.getLogger("realtime.capture")

RESET_METHOD = "CaptureReset"
"""The client method that signals changes lost for good; argument ``{"lastEventId": "<newest sent>"}``."""

APPLICATION_NAME = "realtime_capture"
"""The ``application_name`` of the publishers' connections (``pg_stat_activity``), unless OPTIONS sets one."""
PRUNE_EVERY = 1000
"""Events sent between two prunings of the outbox down to ``CAPTURE_HISTORY_SIZE``."""

Change = tuple[int, str, str, str]
"""An outbox row as read: event id, table, operation letter, row as JSON text."""


def conninfo(alias: str) -> str:
    """A libpq connection string for Django database ``alias`` (its NAME, USER, PASSWORD, HOST, PORT, OPTIONS)."""
    import psycopg.conninfo

    settings = connections[alias].settings_dict
    skip = {"isolation_level", "server_side_binding", "assume_role", "pool", "cursor_factory", "context"}
    options = {key: value for key, value in (settings.get("OPTIONS") or {}).items() if key not in skip}
    params = {
        "dbname": settings.get("NAME"),
        "user": settings.get("USER"),
        "password": settings.get("PASSWORD"),
        "host": settings.get("HOST"),
        "port": settings.get("PORT"),
        "application_name": APPLICATION_NAME,
        **options,
    }
    return psycopg.conninfo.make_conninfo(**{key: str(value) for key, value in params.items() if value})


def deliveries(changes: list[Change], alias: str) -> list[tuple[int, list[Delivery]]]:
    """What each change sends (payloads and groups may read the database: run in a thread)."""
    found = []
    for event_id, table, op, text in changes:
        out = []
        for capture in captures_of_table(table):
            try:
                out.append(capture.delivery(row_values.instance_of(capture.model, op, text, alias), op))
            except Exception:
                logger.exception("realtime capture: change %s of %s could not be built; it is skipped", event_id, table)
        found.append((event_id, out))
    return found


class Publisher:
    """One process's candidate publisher (see the module docstring)."""

    def __init__(self, alias: str | None = None) -> None:
        self.alias = alias or realtime_settings.CAPTURE_DATABASE
        self.sent = 0
        """The newest event id this process sent (a reconnected leader does not send it again)."""
        self.leading = False
        self._pruned_at = 0
        self._prev: dict[str, int] = {}
        """The newest change sent to each SSE topic."""

    async def run(self) -> None:
        """Lead or stand by until cancelled; reconnect after a failure (back-off up to ``CAPTURE_RECONNECT_MAX``)."""
        delay = 0.1
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("realtime capture: %s: %s; reconnecting in %.1f s", type(exc).__name__, exc, delay)
            self.leading = False
            self._prev.clear()  # what a former leader sent meanwhile is unknown: the topic feeds ask the outbox
            await asyncio.sleep(delay)
            delay = min(delay * 2, float(realtime_settings.CAPTURE_RECONNECT_MAX))

    async def _session(self) -> None:
        import psycopg

        async with await psycopg.AsyncConnection.connect(conninfo(self.alias), autocommit=True) as conn:
            await conn.execute(f"LISTEN {sql.CHANNEL}")
            standby = float(realtime_settings.CAPTURE_STANDBY_INTERVAL)
            while not await self._value(conn, sql.TRY_LEAD):
                await self._wait(conn, standby)
            published, pruned = await (await conn.execute(sql.STATE)).fetchone()  # type: ignore[misc]
            self.leading = True
            logger.info("realtime capture: leading from event %s", published)
            if self.sent > published:
                published = self.sent
                await conn.execute(sql.STORE, {"published": published})
            if published < pruned:
                await self._lost(published, pruned)
                published = pruned
                await conn.execute(sql.STORE, {"published": published})
            while True:
                published = await self._drain(conn, published)
                await self._wait(conn, float(realtime_settings.CAPTURE_POLL_INTERVAL))

    async def _value(self, conn: Any, query: str) -> Any:
        row = await (await conn.execute(query)).fetchone()
        return row[0]

    async def _wait(self, conn: Any, timeout: float) -> None:
        """Until a notification arrives (psycopg >= 3.3 keeps those that came during a query) or ``timeout``
        seconds pass."""
        async for _ in conn.notifies(timeout=timeout, stop_after=1):
            pass

    async def _drain(self, conn: Any, published: int) -> int:
        """Send every change after ``published``, batch by batch, storing the position after each batch."""
        batch = int(realtime_settings.CAPTURE_BATCH_SIZE)
        while True:
            cursor = await conn.execute(sql.CHANGES, {"after": published, "limit": batch})
            changes = await cursor.fetchall()
            if not changes:
                return published
            await self._send(await sync_to_async(deliveries)(changes, self.alias))
            published = changes[-1][0]
            await conn.execute(sql.STORE, {"published": published})
            if published - self._pruned_at >= PRUNE_EVERY:
                self._pruned_at = published
                await conn.execute(sql.PRUNE, {"upto": published - int(realtime_settings.CAPTURE_HISTORY_SIZE)})

    async def _send(self, built: list[tuple[int, list[Delivery]]]) -> None:
        """One layer message per group, and one per SSE topic, for the changes of a drained batch not sent yet
        (in commit order)."""
        by_group: dict[str, list[CapturedChange]] = {}
        by_topic: dict[str, list[TopicItem]] = {}
        for event_id, sends in built:
            if event_id <= self.sent:
                continue
            for delivery in sends:
                for group in delivery.targets:
                    by_group.setdefault(group, []).append((event_id, delivery.users, delivery.frames))
                if delivery.event is not None:
                    for topic in delivery.topics:
                        by_topic.setdefault(topic, []).append((event_id, *delivery.event, delivery.users))
        for group, changes in by_group.items():
            await lifetime.send_to_group(group, capture_event(group, changes))
        for topic, items in by_topic.items():
            group = names.topic(topic)
            await lifetime.send_to_group(group, topic_event(topic, group, items, prev=self._prev.get(topic)))
            self._prev[topic] = items[-1][0]
        if built:
            self.sent = max(self.sent, built[-1][0])

    async def _lost(self, published: int, pruned: int) -> None:
        logger.error("realtime capture: changes %s to %s are gone from the outbox unsent", published + 1, pruned)
        for hub in {capture.hub for capture in captures()}:
            group = names.hub_all(hub.hub_name())
            frames = encode_invocation(hub, RESET_METHOD, [{"lastEventId": str(published)}])
            await lifetime.send_to_group(group, frame_event(group, frames, []))


_publishers: loops.PerLoop[Publisher] = loops.PerLoop(Publisher)


def publisher() -> Publisher:
    """The publisher of the running loop."""
    return _publishers.get()


def start_in_process() -> None:
    """Run this loop's publisher beside the process channel, unless ``CAPTURE_LISTENER`` is ``"worker"``."""
    if captures() and realtime_settings.CAPTURE_LISTENER == "process":
        loops.services().start("change-capture", publisher().run)


loops.on_channel_start(start_in_process)
