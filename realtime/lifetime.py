"""The only module that talks to the channel layer.

Each server process opens ONE layer channel (lazily, with its first connection: :func:`process_channel`)
and runs one receive loop over it. The channel joins a layer group while anything in this process wants
messages of that group (a local member of a hub group, a topic stream), so a broadcast crosses the layer
once per process and fans out locally. Every event that arrives goes to the handler that the module owning
its kind registered with :func:`route` (the kinds and their shapes: ``realtime.events``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, channel_layers, get_channel_layer
from django.core.exceptions import ImproperlyConfigured

from . import events, loops, names
from .conf import realtime_settings
from .events import Event
from .probes import LayerProbes, on_gap

logger = logging.getLogger("realtime.lifetime")

__all__ = ["ChannelFull", "ProcessChannel", "layer", "on_gap", "process_channel", "route"]

HOUSEKEEPING_INTERVAL = 10.0
"""Seconds between two prunings of the layer groups nothing in this process wants any more."""

_routes: dict[str, Callable[[Event], None]] = {}


def route(kind: str, handler: Callable[[Event], None]) -> None:
    """Hand every layer event of ``kind`` (``realtime.events``) that reaches this process to ``handler``.

    The module that owns the kind registers it when it is imported. ``handler`` runs on the receive loop:
    it must not block (spawn a task with ``loops.services().spawn`` for work that awaits).
    """
    _routes[kind] = handler


_call_layer: ContextVar[BaseChannelLayer | None] = ContextVar("realtime_call_layer", default=None)
"""The layer instance of a sync call outside a server (:func:`own_layer`); unset everywhere else."""


def layer() -> BaseChannelLayer:
    """The channel layer named by ``REALTIME["CHANNEL_LAYER"]``; fails loudly when none is configured."""
    own = _call_layer.get()
    if own is not None:
        return own
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


def home_loop() -> asyncio.AbstractEventLoop | None:
    """The running loop of this process's channel, if one runs (see ``realtime.sync``)."""
    home = _home() if _home is not None else None
    return home if home is not None and not home.is_closed() and home.is_running() else None


async def _on_home_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Await ``coroutine`` on the loop of the process channel when called from another loop.

    Sync pushes from plain threads (``send`` in a worker thread, ``asyncio.to_thread``) run in a
    temporary loop of their own. The in-memory layer is not thread-safe: a message it queued from there
    would wake the process channel's receive loop only at that loop's next timer. Hopping to the home
    loop keeps every layer call on one loop.
    """
    home = home_loop()
    if home is None or home is asyncio.get_running_loop():
        return await coroutine
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, home))


@contextlib.asynccontextmanager
async def own_layer() -> AsyncIterator[None]:
    """Give the layer calls made inside (in this context) a channel layer instance of their own, closed at exit.

    For sync pushes outside a server, each in a short-lived loop: channels_redis keeps connection pools per
    layer instance and event loop, so a fresh instance (channels' ``make_backend``) holds only this call's
    connections, and its public close leaves none open between pushes nor any for a closed loop to trip over
    (Celery's "Event loop is closed"). The in-memory layer holds no connections and is shared as it is.
    """
    shared = layer()
    if isinstance(shared, InMemoryChannelLayer):
        yield
        return
    fresh = channel_layers.make_backend(realtime_settings.CHANNEL_LAYER)
    token = _call_layer.set(fresh)
    try:
        yield
    finally:
        _call_layer.reset(token)
        try:
            if hasattr(type(fresh), "close_pools"):  # RedisChannelLayer: its flush() would delete every message
                await fresh.close_pools()
            else:  # RedisPubSubChannelLayer: flush() closes this loop's connections of this instance
                await fresh.flush()
        except Exception:  # never mask the outcome of the call itself
            logger.warning("realtime: closing a sync call's channel layer connections failed", exc_info=True)


_call_slots: loops.PerLoop[asyncio.Semaphore] = loops.PerLoop(
    lambda: asyncio.Semaphore(int(realtime_settings.LAYER_MAX_CONCURRENT_CALLS))
)
"""Layer calls in flight at once on each loop. A channels_redis layer takes a pool connection per call, and
redis-py 8's pools raise ``MaxConnectionsError`` past 100 connections: a burst of connects (a group each)
or of pushes waits for a slot instead of failing."""


async def _bounded(call: Coroutine[Any, Any, Any]) -> Any:
    """Await the layer ``call`` (not started yet) within ``LAYER_MAX_CONCURRENT_CALLS``."""
    async with _call_slots.get():
        return await call


async def send_to_group(group: str, event: Event) -> None:
    """Send ``event`` to every channel in layer ``group`` (one message per member process)."""
    chosen = layer()
    local = _in_process(chosen)
    if local is not None:
        local.deliver_here(group, event)
        await asyncio.sleep(0)  # yield as a layer send does: a burst of sends must not starve the loop's other tasks
    else:
        await _on_home_loop(_bounded(chosen.group_send(group, event)))


def _in_process(chosen: BaseChannelLayer) -> ProcessChannel | None:
    """The process channel, when every member of every group is in it and runs on this loop, so a group send
    is handed to it directly: Channels' in-memory layer (one process) scans every group of every connection
    and deep-copies the message on each send and receive."""
    if type(chosen) is not InMemoryChannelLayer:
        return None
    local = _channels.current()
    if local is None or local.name is None or len(_channels.values()) != 1:
        return None  # not started, or several loops in this process (tests; sync calls outside a server)
    return local


async def send(channel: str, event: Event) -> None:
    """Send ``event`` to one channel; raises ``ChannelFull`` when it cannot take more."""
    await _on_home_loop(_bounded(layer().send(channel, event)))


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
    await _bounded(chosen.send(channel, {**event, "reply_channel": reply_channel}))
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
    await _bounded(chosen.group_send(group, event) if group else chosen.send(channel, event))
    async with asyncio.timeout(timeout):
        return await chosen.receive(reply_channel)


class ProcessChannel:
    """This process's one layer channel: which layer groups it is in, and the receive loop.

    Interest in a group is counted (:meth:`join`, :meth:`leave`); a group nothing wants any more is left
    lazily, by the channel's housekeeping, which also re-adds the others before the layer's ``group_expiry``.

    Its :attr:`probes` (``realtime.probes``) tell when messages to this process may have been lost.
    """

    def __init__(self) -> None:
        self._layer = layer()
        self.name: str | None = None
        self._interest: dict[str, int] = {}
        self._joined: set[str] = set()
        self._joining: dict[str, asyncio.Future[None]] = {}
        self._started: asyncio.Future[str] | None = None
        self._probes = False
        self._probe_group = ""
        self.probes = LayerProbes()

    async def start(self) -> str:
        """Open the channel and start its loops once; returns the channel name."""
        if (started := self._started) is not None and started.done():  # open: no shield (asked at every connect)
            return started.result()
        if started is None:
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
            self._probe_group = names.probe(self.name)
            self.probes.name = self.name
            services = loops.services()
            services.start("process-channel", self._receive_loop)
            services.start("layer-housekeeping", self._housekeep)
            if float(realtime_settings.LAYER_CHECK_INTERVAL) > 0:
                self._probes = True
                services.start("layer-probe", self._probe_loop)
            services.on_close(self._close)
            loops.channel_started()
            self._started.set_result(self.name)
        return await asyncio.shield(self._started)

    @property
    def failing(self) -> bool:
        """Whether messages to this process may have been lost and delivery has not been seen to work since
        (:attr:`LayerProbes.failing`)."""
        return self.probes.failing

    async def join(self, group: str) -> None:
        """Want messages of layer ``group``; returns once the channel is in it (joined once per process)."""
        self._interest[group] = self._interest.get(group, 0) + 1
        if group in self._joined:
            return
        if self.name is not None and type(self._layer) is InMemoryChannelLayer and group not in self._joining:
            await self._layer.group_add(group, self.name)  # never suspends: no task of its own per join
            self._joined.add(group)
            return
        pending = self._joining.get(group)
        if pending is None:
            pending = asyncio.ensure_future(self._group_add(group))
            self._joining[group] = pending
        await asyncio.shield(pending)

    def deliver_here(self, group: str, event: Event) -> None:
        """Handle a group send now, if this channel is in ``group`` (see ``_in_process``)."""
        if group in self._interest or group in self._joined:
            self._dispatch(event)

    def wants(self, group: str) -> bool:
        """Whether anything in this process wants messages of layer ``group`` now."""
        return group in self._interest

    def leave(self, group: str) -> None:
        """Want messages of ``group`` once less (the layer group is left lazily, when nothing wants it)."""
        left = self._interest.get(group, 0) - 1
        if left > 0:
            self._interest[group] = left
        else:
            self._interest.pop(group, None)

    async def _group_add(self, group: str) -> None:
        try:
            name = await self.start()
            await _bounded(self._layer.group_add(group, name))
            self._joined.add(group)
        finally:
            self._joining.pop(group, None)

    async def prune(self) -> None:
        """Leave every joined layer group that nothing in this process wants any more."""
        for group in [g for g in self._joined if g not in self._interest]:
            if group in self._interest or group not in self._joined:  # wanted again while an earlier one was left
                continue
            self._joined.discard(group)
            if self.name is not None:
                await _bounded(self._layer.group_discard(group, self.name))

    async def refresh(self) -> None:
        """Re-add the channel to its groups so the layer's ``group_expiry`` never evicts it.

        The probe group goes last: a probe that arrives proves every other group was re-added before it.
        """
        if self.name is not None:
            for group in sorted(self._joined, key=lambda name: name == self._probe_group):
                await _bounded(self._layer.group_add(group, self.name))

    async def _housekeep(self) -> None:
        """Leave the groups nothing wants; re-add the rest every ``GROUP_REFRESH_INTERVAL``."""
        refresh_every = float(realtime_settings.GROUP_REFRESH_INTERVAL)
        since_refresh = 0.0
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            try:
                await self.prune()
                since_refresh += HOUSEKEEPING_INTERVAL
                if since_refresh >= refresh_every:
                    since_refresh = 0.0
                    await self.refresh()
            except Exception:
                logger.exception("realtime process channel %s: housekeeping failed; will retry", self.name)

    async def _receive_loop(self) -> None:
        """Hand every event to its handler; after a layer failure, rejoin the groups before reading on.

        A restarted Redis has forgotten the group memberships, so they are re-added (with back-off)
        before the loop trusts the layer again.
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
                    if not self._probes:  # no probes to show that delivery is back: the rejoin is the sign
                        self.probes.back()
                event = await self._layer.receive(self.name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("realtime process channel %s: layer failed (%r); retrying", self.name, exc)
                self.probes.lost()
                rejoin = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            self._dispatch(event)

    def _dispatch(self, event: Event) -> None:
        kind = event.get("type")
        if kind == events.PROBE:
            self.probes.arrived(event["seq"])
            return
        handler = _routes.get(kind)  # type: ignore[arg-type]
        if handler is None:
            logger.warning("realtime process channel %s: no handler for layer events of type %r", self.name, kind)
            return
        try:
            handler(event)
        except Exception:
            logger.exception("realtime process channel %s: handling %r failed", self.name, kind)

    async def _probe_loop(self) -> None:
        group = self._probe_group
        await self.probes.run(
            float(realtime_settings.LAYER_CHECK_INTERVAL),
            join=lambda: self.join(group),
            leave=lambda: self.leave(group),
            send=lambda seq: _bounded(self._layer.group_send(group, events.probe(seq))),
        )

    async def _close(self) -> None:
        """Leave every group, and let the next caller of :func:`process_channel` open a new channel."""
        if _channels.current() is self:
            _channels.pop()
        self._interest.clear()
        await self.prune()


_channels: loops.PerLoop[ProcessChannel] = loops.PerLoop(ProcessChannel)


def process_channel() -> ProcessChannel:
    """This process's channel (one per running event loop; opened by its first :meth:`~ProcessChannel.start`)."""
    return _channels.get()
