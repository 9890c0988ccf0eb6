"""Taking over a stateful connection whose owner died, from the durable store (``STATEFUL_RECONNECT_STORE``).

When a client's new socket reaches a process that does not own its connection and the owner does not answer
(``realtime.transports.relay``), this process becomes the owner if the durable store still has the connection:
atomically (the store and the registry change owner only if the dead one still holds them), then

1. the connection is rebuilt with its id, user, protocol, hub groups and ``context.items``, connected without a
   handshake and without ``on_connected``;
2. its replay buffer is what the dead owner wrote before sending: the client drops what it already has;
3. what was sent to it through the layer but never reached the dead owner comes from the hub's log: every entry
   since the connection began (or since a little before the owner's last recorded delivery) that was meant for
   it and that the owner did not record, in log order;
4. each call that was still running gets an error Completion;

then the new socket gets ``Sequence`` and the replay, and the connection goes on here.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from typing import TYPE_CHECKING, Any

from . import lifetime, names
from .conf import hub_option, realtime_settings
from .connection import HubConnection
from .dispatcher import HubDispatcher
from .endpoints import Resumable
from .protocol.messages import CompletionMessage
from .registry import Entry, registry
from .request import RequestInfo
from .resume import TRIM_DELAY, Resume
from .resume_store import LogEntry, Snapshot, resume_store
from .transports import claim
from .types import Scope
from .users import scope_user

if TYPE_CHECKING:
    from .hubs import Hub

logger = logging.getLogger("realtime.takeover")

JOIN_MARGIN = 1.0
"""Seconds a log entry may predate the time a connection joined its group and still be meant for it: the
clocks of the processes and of Redis may differ by that much."""
SEEN_FOR = 60.0
"""Seconds after a takeover during which a message is checked against those the log already delivered: later,
nothing sent before the takeover can still be on its way through the layer."""
CALL_LOST = "Invocation canceled: the server running it stopped before it completed."


class _Lost:
    """The transport of a taken-over connection until its new socket is attached: nothing can be written."""

    name = "WebSockets"
    transfer_formats = frozenset({"Text", "Binary"})
    keep_alive = False
    can_pause = False
    closed = True

    def __init__(self, token: str) -> None:
        self.resume_token: str | None = token

    async def send(self, frame: str | bytes) -> None:
        raise ConnectionError("No socket carries this connection yet.")

    async def close(self) -> None:
        pass


async def adopt(hub: type[Hub], token: str, entry: Entry, scope: Scope) -> Resumable | None:
    """Take over ``token``'s connection from ``entry.owner``, which did not answer; ``None`` when the store does not
    have it (no store, expired, or another process took it first)."""
    store = resume_store()
    if store is None:
        return None
    me = await lifetime.process_channel().start()
    snapshot = await store.take(token, entry.owner, me)
    if snapshot is None:
        return None
    taken = await registry().take_over(token, entry.owner, me)
    if taken is not None:
        claim.own(token, taken)
    logger.warning("realtime: taking over %s from a process that does not answer", snapshot.connection_id)
    user, user_id = scope_user(scope)
    connection = HubConnection(
        hub,
        _Lost(token),
        connection_id=snapshot.connection_id,
        user=user,
        user_id=user_id,
        request=RequestInfo.from_scope(scope),
        expires=scope.get("auth_expires"),
        claims=scope.get("auth_claims"),
    )
    protocol = next(p for p in hub.protocol_instances() if p.name == snapshot.protocol)
    resume = _restored(hub, token, snapshot)
    resume.store, resume.owner = store, me
    if snapshot.items:
        connection.items.update(pickle.loads(snapshot.items))  # written by this app's own processes
    dispatcher = HubDispatcher(connection)
    await dispatcher.adopt(protocol, resume, list(snapshot.groups))
    for entry_of_log in await _missed(hub, snapshot, resume):
        connection.deliver(entry_of_log.frames, entry_of_log.id)
    for call in snapshot.calls:
        await connection.send(CompletionMessage.with_error(call, CALL_LOST))
    asyncio.get_running_loop().call_later(SEEN_FOR, _stop_deduplicating, resume)
    return dispatcher


def _stop_deduplicating(resume: Resume) -> None:
    resume.seen_logs = None


def _restored(hub: type[Hub], token: str, snapshot: Snapshot) -> Resume:
    """The replay state the dead owner wrote: the frames the client has not acknowledged, what it received."""
    size = int(hub_option(hub, "STATEFUL_RECONNECT_BUFFER_SIZE"))
    resume = Resume(token, buffer_size=size, window=float(realtime_settings.DISCONNECT_TIMEOUT))
    resume.sent.restore([(seq, frame) for seq, frame, _ in snapshot.frames if seq > snapshot.acked], snapshot.sent)
    resume.received.restore(snapshot.received)
    resume.restore_groups(snapshot.groups)
    resume.seen_logs = {log for _, _, log in snapshot.frames if log}
    resume.detach()
    return resume


async def _missed(hub: type[Hub], snapshot: Snapshot, resume: Resume) -> list[LogEntry]:
    """The hub log's entries meant for the connection that the dead owner did not record."""
    store = resume_store()
    assert store is not None
    logged = [int(log.split("-")[0]) / 1000 for _, _, log in snapshot.frames if log]
    since = max(snapshot.since, (max(logged) if logged else snapshot.since) - TRIM_DELAY) - JOIN_MARGIN
    name = hub.hub_name()
    always = {names.connection(snapshot.connection_id), names.hub_all(name)}
    if snapshot.user_id is not None:
        always.add(names.user(name, snapshot.user_id))
    missed = []
    for entry in await store.log_since(name, since):
        if entry.id in resume.seen_logs or snapshot.connection_id in entry.exclude or entry.time < snapshot.since:
            continue
        meant = any(
            group in always or entry.time >= snapshot.groups.get(group, time.time() + 1) - JOIN_MARGIN
            for group in entry.groups
        )
        if meant and snapshot.protocol in entry.frames:
            missed.append(entry)
    return missed


def taker(hub: type[Hub]) -> Any:
    """The ``Endpoint.adopt`` of ``hub``'s endpoint."""

    async def adopt_for_hub(token: str, entry: Entry, scope: Scope) -> Resumable | None:
        return await adopt(hub, token, entry, scope)

    return adopt_for_hub
