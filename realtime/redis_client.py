"""One place that opens Redis clients for ``realtime``'s own Redis backends (registry, presence)."""

from __future__ import annotations

from typing import Any

from .conf import realtime_settings
from .loops import PerLoop

POOL_TIMEOUT = 20.0
"""Seconds a call waits for a free connection of the pool before it fails."""


def open_redis(backend: str, *, decode: bool = True) -> Any:
    """A ``redis.asyncio`` client for ``REALTIME["REDIS_URL"]``, bound to the running event loop.

    Callers keep one per event loop (a client's connections belong to the loop that opened them). Its pool
    holds at most ``REDIS_MAX_CONNECTIONS`` connections and makes further calls wait for one: redis-py's
    default pool opens a connection per concurrent call and keeps them all, so a burst (hundreds of
    clients reconnecting at once) left hundreds of open connections behind. A Redis host that stops
    answering fails a connect after 5 s instead of the OS's minutes (the URL's own
    ``?socket_connect_timeout=`` wins).
    """
    import redis.asyncio

    url = realtime_settings.REDIS_URL
    if not url:
        raise RuntimeError(f'{backend} needs REALTIME["REDIS_URL"], e.g. "redis://127.0.0.1:6379/0".')
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=int(realtime_settings.REDIS_MAX_CONNECTIONS),
        timeout=POOL_TIMEOUT,
        decode_responses=decode,
        socket_connect_timeout=5,
    )
    return redis.asyncio.Redis.from_pool(pool)  # closing the client closes its pool


class LoopClients(PerLoop[Any]):
    """One :func:`open_redis` client per event loop for ``backend`` (its connections belong to that loop)."""

    __slots__ = ()

    def __init__(self, backend: str, *, decode: bool = True) -> None:
        super().__init__(lambda: open_redis(backend, decode=decode))

    async def close_current(self) -> None:
        """Close the running loop's client, if it has one (a sync call outside a server made that loop)."""
        client = self.pop()
        if client is not None:
            await client.aclose()
