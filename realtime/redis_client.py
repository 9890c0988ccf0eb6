"""One place that opens Redis clients for ``realtime``'s own Redis backends (registry, presence)."""

from __future__ import annotations

from typing import Any

from .conf import realtime_settings
from .loops import PerLoop


def open_redis(backend: str) -> Any:
    """A ``redis.asyncio`` client for ``REALTIME["REDIS_URL"]``, bound to the running event loop.

    Callers keep one per event loop (a client's connections belong to the loop that opened them). A Redis
    host that stops answering fails a connect after 5 s instead of the OS's minutes (the URL's own
    ``?socket_connect_timeout=`` wins).
    """
    import redis.asyncio

    url = realtime_settings.REDIS_URL
    if not url:
        raise RuntimeError(f'{backend} needs REALTIME["REDIS_URL"], e.g. "redis://127.0.0.1:6379/0".')
    return redis.asyncio.Redis.from_url(url, decode_responses=True, socket_connect_timeout=5)


class LoopClients(PerLoop[Any]):
    """One :func:`open_redis` client per event loop for ``backend`` (its connections belong to that loop)."""

    __slots__ = ()

    def __init__(self, backend: str) -> None:
        super().__init__(lambda: open_redis(backend))

    async def close_current(self) -> None:
        """Close the running loop's client, if it has one (a sync call outside a server made that loop)."""
        client = self.pop()
        if client is not None:
            await client.aclose()
