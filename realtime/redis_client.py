"""One place that opens Redis clients for ``realtime``'s own Redis backends (registry, presence)."""

from __future__ import annotations

from typing import Any

from .conf import realtime_settings


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
