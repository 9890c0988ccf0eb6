"""Hub filters: code around every invocation and around connect/disconnect (the ``IHubFilter`` analog).

Filters from ``REALTIME["HUB_FILTERS"]`` run first (outermost), then the hub's own ``filters``, in list
order; each decides whether and how to call the next one::

    class LogCalls(HubFilter):
        async def invoke(self, context, call_next):
            started = time.monotonic()
            try:
                return await call_next(context)
            finally:
                logger.info("%s took %.3f s", context.method, time.monotonic() - started)

Raising ``PermissionDenied`` in ``invoke`` answers ``Failed to invoke 'X' because user is unauthorized``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .conf import realtime_settings

if TYPE_CHECKING:
    from .hubs import Hub


@dataclass
class InvocationContext:
    """One hub method call: the hub instance, the wire name and the bound arguments."""

    hub: Hub
    method: str
    arguments: list[Any]


class HubFilter:
    """Base filter: every hook just calls the next one."""

    async def invoke(self, context: InvocationContext, call_next: Callable[[InvocationContext], Awaitable[Any]]) -> Any:
        """Around each invocation (for a stream: around creating it)."""
        return await call_next(context)

    async def on_connected(self, hub: Hub, call_next: Callable[[Hub], Awaitable[None]]) -> None:
        """Around ``Hub.on_connected``."""
        await call_next(hub)

    async def on_disconnected(
        self, hub: Hub, exception: Exception | None, call_next: Callable[[Hub, Exception | None], Awaitable[None]]
    ) -> None:
        """Around ``Hub.on_disconnected``."""
        await call_next(hub, exception)


_NO_FILTERS: list[HubFilter] = []
"""Shared by every connection of a hub without filters (never mutated)."""


def hub_filters(hub: type[Hub]) -> list[HubFilter]:
    """Instances of the global filters, then the hub's own (``filters`` class attribute)."""
    classes = [*realtime_settings.HUB_FILTERS, *(getattr(hub, "filters", None) or [])]
    return [cls() if isinstance(cls, type) else cls for cls in classes] if classes else _NO_FILTERS


def chain(filters: list[HubFilter], hook: str, last: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Compose ``hook`` of every filter around ``last`` (the first filter outermost)."""
    call = last
    for hub_filter in reversed(filters):
        method = getattr(hub_filter, hook)

        def bind(method: Callable[..., Awaitable[Any]], call_next: Callable[..., Awaitable[Any]]) -> Any:
            return lambda *args: method(*args, call_next)

        call = bind(method, call)
    return call
