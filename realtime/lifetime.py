"""The only module that talks to the channel layer.

Each server process opens ONE layer channel (lazily, with its first connection) and runs one receive
loop over it. The process channel joins a layer group when its first local member of that group
appears, so a broadcast crosses the layer once per process and fans out locally (see ``local.py``).
Event ``type`` strings of every layer message are defined here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, get_channel_layer
from django.core.exceptions import ImproperlyConfigured

from . import links, names
from .conf import realtime_settings

logger = logging.getLogger("realtime.lifetime")

FRAME = "realtime.frame"
"""Deliver finished frames to the local members of ``group`` (minus ``exclude``)."""
INVOKE = "realtime.invoke"
"""Ask the owner of a connection for a client result; the answer goes to ``reply_channel``."""
RESULT = "realtime.result"
"""The answer to an ``INVOKE``."""
GROUP = "realtime.group"
"""Ask the owner of a connection to add it to (``add``) or remove it from hub group ``name`` (layer ``group``),
with presence ``metadata``; the answer carries ``error`` when presence refused."""
ABORT = "realtime.abort"
"""Close a connection wherever it lives."""
TRANSPORT_DATA = "realtime.transport.data"
"""A POST body for the owner of the HTTP connection ``token``; acknowledged on ``reply_channel`` at once
(``ack``), then answered with ``status`` once the owner took it in (see :func:`request_acknowledged`)."""
POLL = "realtime.poll"
"""A long poll for the owner of ``token``; answered on ``reply_channel`` with ``status`` and ``body``."""
DELETE = "realtime.delete"
"""End the long-polling connection ``token``; answered on ``reply_channel``."""
TOPIC = "realtime.topic"
"""An event published to an SSE topic: ``group``, ``id``, ``event`` and ``data`` (see ``realtime.eventstream``)."""
PROBE = "realtime.probe"
"""A process's numbered message to itself through a layer group (``seq``): a gap shows lost messages."""

Event = dict[str, Any]
Handler = Callable[[Event], None]

__all__ = [
    "ABORT",
    "DELETE",
    "FRAME",
    "GROUP",
    "INVOKE",
    "POLL",
    "PROBE",
    "RESULT",
    "TOPIC",
    "TRANSPORT_DATA",
    "ChannelFull",
    "ProcessChannel",
    "layer",
]


def layer() -> BaseChannelLayer:
    """The channel layer named by ``REALTIME["CHANNEL_LAYER"]``; fails loudly when none is configured."""
    alias = realtime_settings.CHANNEL_LAYER
    found = get_channel_layer(alias)
    if found is None:
        raise ImproperlyConfigured(
            f"realtime needs a channel layer: add CHANNEL_LAYERS[{alias!r}] to your settings "
            '(e.g. {"BACKEND": "channels.layers.InMemoryChannelLayer"} for one process).'
        )
    return found


_home: weakref.ref[asyncio.AbstractEventLoop] | None = None
"""The event loop that runs this process's channel (set by :meth:`ProcessChannel.start`)."""


async def _on_home_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Await ``coroutine`` on the loop of the process channel when called from another loop.

    Sync pushes from plain threads (``send`` in a worker thread, ``asyncio.to_thread``) run in a
    temporary loop of their own. The in-memory layer is not thread-safe: a message it queued from there
    would wake the process channel's receive loop only at that loop's next timer. Hopping to the home
    loop keeps every layer call on one loop.
    """
    home = _home() if _home is not None else None
    if home is None or home.is_closed() or not home.is_running() or home is asyncio.get_running_loop():
        return await coroutine
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, home))


def sync_call_loop() -> str:
    """Where a sync call from this thread (no loop runs here) runs its coroutine.

    ``"caller"``: this thread is a ``sync_to_async`` worker of a running loop (a sync view under an ASGI
    server), and ``async_to_sync`` goes back to that loop. ``"home"``: another thread of a process whose
    channel runs (``asyncio.to_thread``, a thread pool of a server process): the call runs on the channel's
    loop, so it opens no Redis clients or layer pools of its own. ``"private"``: a short-lived loop of its
    own (Celery workers, management commands, scripts, WSGI servers).
    """
    from asgiref.sync import SyncToAsync

    local = SyncToAsync.threadlocal  # what async_to_sync itself reads to find the loop it would run on
    caller = getattr(local, "main_event_loop", None)
    if (
        caller is not None
        and getattr(local, "main_event_loop_pid", None) == os.getpid()
        and caller.is_running()
        and not caller.is_closed()
    ):
        return "caller"
    home = _home() if _home is not None else None
    if home is not None and not home.is_closed() and home.is_running():
        return "home"
    return "private"


def uses_private_loop() -> bool:
    """Whether a sync call from this thread gets a short-lived event loop of its own (:func:`sync_call_loop`)."""
    return sync_call_loop() == "private"


def run_on_home(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` on the process channel's loop, in this thread's context, and wait for its result.

    Only from a thread that is not that loop's (``sync_call_loop() == "home"``).
    """
    home = _home() if _home is not None else None
    if home is None:
        raise RuntimeError("realtime: no process channel loop runs in this process")
    # call_soon_threadsafe runs the task's creation in a copy of this thread's context: context vars follow
    return asyncio.run_coroutine_threadsafe(coroutine, home).result()


_warned_isolated = False


def warn_if_isolated() -> None:
    """Log once when a push from outside a server goes to the in-memory layer, which reaches no server.

    A Celery worker, a script or a WSGI process on ``InMemoryChannelLayer`` pushes into a layer that only
    its own process reads: every recipient is in another process, so nobody gets the message.
    """
    global _warned_isolated
    from channels.layers import InMemoryChannelLayer

    if not _warned_isolated and isinstance(layer(), InMemoryChannelLayer):
        _warned_isolated = True
        logger.warning(
            "realtime: a push from a process that runs no server (a Celery worker, a script, a WSGI server) "
            "went to CHANNEL_LAYERS[%r], the in-memory layer, which reaches only this process: no client gets "
            "it. Share a channels_redis layer with the servers (%s).",
            realtime_settings.CHANNEL_LAYER,
            links.doc_url("deployment.md"),
        )


async def release_loop() -> None:
    """Close the channel layer connections that the running (short-lived) loop opened.

    channels_redis keeps one connection pool per event loop, and a sync push outside a server makes a
    loop for each call. Closing that loop's pools here, while it still runs, leaves no connection open
    between pushes and none to be collected after its loop closed (Celery's "Event loop is closed"),
    whatever the layer does on ``loop.close()``. Other loops' pools are left alone.
    """
    found = get_channel_layer(realtime_settings.CHANNEL_LAYER)
    if found is None:
        return
    loop = asyncio.get_running_loop()
    state = vars(found)  # not getattr: RedisPubSubChannelLayer forwards unknown names to a new per-loop layer
    try:
        cleaners = [task for task in state.get("receive_cleaners") or () if task.get_loop() is loop]
        if cleaners:
            await asyncio.wait(cleaners)
        per_loop = (state.get("_layers") or {}).pop(loop, None)
        if per_loop is not None:
            await per_loop.flush()
    except Exception:  # never mask the outcome of the call itself
        logger.warning("realtime: closing the channel layer connections of a finished loop failed", exc_info=True)


async def send_to_group(group: str, event: Event) -> None:
    """Send ``event`` to every channel in layer ``group`` (one message per member process)."""
    await _on_home_loop(layer().group_send(group, event))


async def send(channel: str, event: Event) -> None:
    """Send ``event`` to one channel; raises ``ChannelFull`` when it cannot take more."""
    await _on_home_loop(layer().send(channel, event))


async def request(group: str, event: Event, *, timeout: float) -> Event:
    """Send ``event`` to ``group`` with a fresh reply channel and wait for one answer.

    Raises ``TimeoutError`` when no answer arrives in ``timeout`` seconds.
    """
    return await _on_home_loop(_request(event, timeout, group=group))


async def request_channel(channel: str, event: Event, *, timeout: float) -> Event:
    """Like :func:`request`, to one channel; raises ``ChannelFull`` when it cannot take more."""
    return await _on_home_loop(_request(event, timeout, channel=channel))


async def request_acknowledged(channel: str, event: Event, *, ack_timeout: float, timeout: float) -> Event:
    """Like :func:`request_channel`, for a request the receiver acknowledges at once and answers later.

    A receiver that is gone is noticed after ``ack_timeout``; a live one may take ``timeout`` to answer.
    Raises ``TimeoutError`` (with ``args[0] == "ack"`` when no acknowledgement came) and ``ChannelFull``.
    """
    return await _on_home_loop(_request_acknowledged(channel, event, ack_timeout, timeout))


async def _request_acknowledged(channel: str, event: Event, ack_timeout: float, timeout: float) -> Event:
    chosen = layer()
    reply_channel = names.own_channel(await chosen.new_channel())
    await chosen.send(channel, {**event, "reply_channel": reply_channel})
    try:
        async with asyncio.timeout(ack_timeout):
            reply = await chosen.receive(reply_channel)
    except TimeoutError:
        raise TimeoutError("ack") from None
    if not reply.get("ack"):
        return reply
    async with asyncio.timeout(timeout):
        return await chosen.receive(reply_channel)


async def _request(event: Event, timeout: float, *, group: str = "", channel: str = "") -> Event:
    chosen = layer()
    reply_channel = names.own_channel(await chosen.new_channel())
    event = {**event, "reply_channel": reply_channel}
    if group:
        await chosen.group_send(group, event)
    else:
        await chosen.send(channel, event)
    async with asyncio.timeout(timeout):
        return await chosen.receive(reply_channel)


class ProcessChannel:
    """This process's one layer channel: group membership and the receive loop that feeds ``handler``.

    Neither channels_redis layer says when it drops group messages: a restarted Redis forgets the group
    memberships, and the pub/sub layer re-subscribes after a lost connection without a word, so sends in
    between reach nobody although their callers saw success. So every ``LAYER_CHECK_INTERVAL`` seconds the
    channel sends itself a numbered probe through a group of its own. A probe that cannot be sent, a
    receive that fails, or a gap in the numbers means messages to this process may have been lost; once a
    probe sent after that arrives, delivery works again and ``on_gap`` runs (the connection table then
    asks its clients to reconnect, so nothing is lost silently).
    """

    def __init__(self, handler: Handler, on_gap: Callable[[], None] | None = None) -> None:
        self._handler = handler
        self._on_gap = on_gap
        self._layer = layer()
        self.name: str | None = None
        self._joined: set[str] = set()
        self._joining: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._prober: asyncio.Task[None] | None = None
        self._started: asyncio.Future[str] | None = None
        self._probe_group = ""
        self._probes_sent = 0
        self._probes_seen = 0
        self._lost_before: int | None = None
        """While messages may have been lost: only a probe numbered above this shows delivery is back."""

    async def start(self) -> str:
        """Open the channel and start the receive loop once; returns the channel name."""
        if self._started is None:
            global _home
            _home = weakref.ref(asyncio.get_running_loop())
            self._started = asyncio.get_running_loop().create_future()
            try:
                self.name = names.own_channel(await self._layer.new_channel())
            except BaseException as exc:
                self._started.set_exception(exc)
                started, self._started = self._started, None
                started.exception()  # retrieved: the next caller retries
                raise
            self._task = asyncio.create_task(self._receive_loop(), name="realtime-process-channel")
            self._probe_group = names.probe(self.name)
            if float(realtime_settings.LAYER_CHECK_INTERVAL) > 0:
                self._prober = asyncio.create_task(self._probe_loop(), name="realtime-layer-probe")
            self._started.set_result(self.name)
        return await asyncio.shield(self._started)

    @property
    def failing(self) -> bool:
        """Whether the layer failed (a receive or a probe) and delivery has not been seen to work since.

        Known without a layer round trip: negotiate asks it for every connection.
        """
        return self._lost_before is not None

    async def join(self, group: str) -> None:
        """Make sure the process channel is in layer ``group`` (once per process, awaited by all callers)."""
        if group in self._joined:
            return
        pending = self._joining.get(group)
        if pending is None:
            pending = asyncio.ensure_future(self._group_add(group))
            self._joining[group] = pending
        await asyncio.shield(pending)

    async def _group_add(self, group: str) -> None:
        try:
            await self._layer.group_add(group, await self.start())
            self._joined.add(group)
        finally:
            self._joining.pop(group, None)

    async def prune(self, keep: Callable[[str], bool]) -> None:
        """Leave every joined layer group for which ``keep(group)`` is false."""
        for group in [g for g in self._joined if not keep(g)]:
            if keep(group) or group not in self._joined:  # a member came back while an earlier group was left
                continue
            self._joined.discard(group)
            if self.name is not None:
                await self._layer.group_discard(group, self.name)

    async def refresh(self) -> None:
        """Re-add the channel to its groups so the layer's ``group_expiry`` never evicts it.

        The probe group goes last: a probe that arrives proves every other group was re-added before it.
        """
        if self.name is not None:
            for group in sorted(self._joined, key=lambda name: name == self._probe_group):
                await self._layer.group_add(group, self.name)

    async def _receive_loop(self) -> None:
        """Feed every event to the handler; after a layer failure, rejoin the groups before reading on.

        A restarted Redis has forgotten the group memberships, so they are re-added (with back-off)
        before the loop trusts the layer again; events sent in between are lost (at-most-once delivery).
        """
        assert self.name is not None
        delay = 0.1
        rejoin = False
        while True:
            try:
                if rejoin:
                    await self.refresh()
                    rejoin = False
                    logger.warning("realtime process channel %s: layer back; groups re-added", self.name)
                    if self._prober is None:  # no probes to show that delivery is back: the rejoin is the sign
                        self._lost_before = None
                event = await self._layer.receive(self.name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("realtime process channel %s: layer failed (%r); retrying", self.name, exc)
                self._maybe_lost()
                rejoin = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            if event.get("type") == PROBE:
                self._probe_arrived(event["seq"])
                continue
            try:
                self._handler(event)
            except Exception:
                logger.exception("realtime process channel %s: handling %r failed", self.name, event.get("type"))

    async def _probe_loop(self) -> None:
        interval = float(realtime_settings.LAYER_CHECK_INTERVAL)
        await self.join(self._probe_group)
        while True:
            await asyncio.sleep(interval)
            self._probes_sent += 1
            try:
                await self._layer.group_send(self._probe_group, {"type": PROBE, "seq": self._probes_sent})
            except asyncio.CancelledError:
                raise
            except Exception:
                self._maybe_lost()

    def _maybe_lost(self) -> None:
        """The layer failed: messages sent to this process from now until a later probe arrives may be lost."""
        if self._lost_before is None:
            logger.warning("realtime process channel %s: messages to this process may have been lost", self.name)
        self._lost_before = self._probes_sent

    def _probe_arrived(self, seq: int) -> None:
        if seq != self._probes_seen + 1 and self._lost_before is None:
            first_lost = self._probes_seen + 1
            logger.warning("realtime process channel %s: probes %s-%s were lost", self.name, first_lost, seq - 1)
            self._lost_before = seq - 1
        self._probes_seen = seq
        if self._lost_before is not None and seq > self._lost_before:
            self._lost_before = None
            if self._on_gap is not None:
                self._on_gap()

    async def close(self) -> None:
        """Stop the receive loop and the probes, and leave every group."""
        tasks = [task for task in (self._task, self._prober) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.prune(lambda group: False)
