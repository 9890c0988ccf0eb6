"""Layer probes: whether messages to this process may have been lost, and when delivery works again.

Neither channels_redis layer says when it drops group messages: a restarted Redis forgets the group
memberships, and the pub/sub layer re-subscribes after a lost connection without a word, so sends in between
reach nobody although their callers saw success. So every ``LAYER_CHECK_INTERVAL`` seconds the process
channel sends itself a numbered probe through a group of its own. A probe that cannot be sent, a receive that
fails, or a gap in the numbers means messages to this process may have been lost; once a probe sent after that
arrives, delivery works again and the :func:`on_gap` listeners run (the connection table then asks its clients
to reconnect, so nothing is lost silently).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger("realtime.lifetime")

_gap_listeners: list[Callable[[], None]] = []


def on_gap(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener()`` whenever messages to this process may have been lost and delivery works again.

    Returns a function that stops it.
    """
    if listener not in _gap_listeners:
        _gap_listeners.append(listener)
    return lambda: _gap_listeners.remove(listener) if listener in _gap_listeners else None


class LayerProbes:
    """The probe numbers of one process channel (``name``, for the logs) and what they show."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.sent = 0
        self.seen = 0
        self.lost_before: int | None = None
        """While messages may have been lost: only a probe numbered above this shows delivery is back."""

    @property
    def failing(self) -> bool:
        """Whether the layer failed (a receive or a probe) and delivery has not been seen to work since.

        Known without a layer round trip: negotiate asks it for every connection.
        """
        return self.lost_before is not None

    async def run(
        self,
        interval: float,
        join: Callable[[], Awaitable[None]],
        leave: Callable[[], None],
        send: Callable[[int], Awaitable[None]],
    ) -> None:
        """Join the probe group (``join``; retried every ``interval`` while the layer fails, each failed
        attempt undone with ``leave``), then ``send`` a numbered probe every ``interval`` seconds."""
        while True:
            try:
                await join()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("realtime process channel %s: joining its probe group failed (%r)", self.name, exc)
                leave()
                self.lost()
            await asyncio.sleep(interval)
        while True:
            await asyncio.sleep(interval)
            self.sent += 1
            try:
                await send(self.sent)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.lost()

    def lost(self) -> None:
        """The layer failed: messages sent to this process from now until a later probe arrives may be lost."""
        if self.lost_before is None:
            logger.warning("realtime process channel %s: messages to this process may have been lost", self.name)
        self.lost_before = self.sent

    def back(self) -> None:
        """Delivery is known to work again without probes (they are off): the groups were re-added."""
        self.lost_before = None

    def arrived(self, seq: int) -> None:
        """Probe ``seq`` came back through the layer."""
        if seq != self.seen + 1 and self.lost_before is None:
            logger.warning("realtime process channel %s: probes %s-%s were lost", self.name, self.seen + 1, seq - 1)
            self.lost_before = seq - 1
        self.seen = seq
        if self.lost_before is not None and seq > self.lost_before:
            self.lost_before = None
            for listener in list(_gap_listeners):
                listener()
