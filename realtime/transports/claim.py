"""Admitting transport requests, and claiming, refreshing and releasing the connection tokens they carry.

Every request of an endpoint (negotiate, the WebSocket upgrade, SSE, polls, POST sends, DELETE) passes
:func:`admit`: the Origin allow-list, then the endpoint's authorization. A transport request that names
a connection token finds its registry entry with :func:`lookup` (this endpoint's, this request's user's)
and the first one claims it with :func:`claim`: its transport, and this process as the owner that the
other processes route the connection's requests to. This process refreshes the entries it owns until
the connection ends and :func:`release` forgets them.
"""

from __future__ import annotations

import asyncio
import logging

from .. import lifetime, loops
from ..conf import realtime_settings
from ..endpoints import ConnectionHandlerLike, Endpoint, Resumable
from ..origins import origin_allowed
from ..registry import Entry, registry
from ..types import Scope, Transport
from ..users import scope_user

logger = logging.getLogger("realtime.transports")

HOUSEKEEPING_INTERVAL = 10.0
NO_CONNECTION = "No Connection with that ID"
TEXT = [(b"content-type", b"text/plain")]
"""The headers of a refusal with a text body, over HTTP or as a WebSocket upgrade's answer."""


class Refusal(Exception):
    """A transport request refused with an HTTP status and a ``text/plain`` body (none for 401)."""

    def __init__(self, status: int, body: str = "") -> None:
        super().__init__(body)
        self.status = status
        self.body = body


async def admit(endpoint: Endpoint, scope: Scope) -> None:
    """Pass the Origin allow-list and the endpoint's authorization, or raise :class:`Refusal`."""
    if not origin_allowed(scope):
        raise Refusal(403, "Origin not allowed.")
    status = await endpoint.authorize(scope)
    if status is not None:
        raise Refusal(status)


def require(endpoint: Endpoint, transport: str) -> None:
    """Refuse ``transport`` when ``endpoint`` does not offer it."""
    if transport not in endpoint.transports:
        raise Refusal(404, f"{transport} transport not supported by this end point type")


async def lookup(endpoint: Endpoint, scope: Scope, token: str) -> Entry:
    """The registry entry of ``token`` for ``endpoint`` and this request's user, or a :class:`Refusal`."""
    entry = await registry().lookup(token)
    if entry is None or entry.endpoint != endpoint.name:
        raise Refusal(404, NO_CONNECTION)
    if scope_user(scope)[1] != entry.user_id:
        raise Refusal(403)
    return entry


async def claim(endpoint: Endpoint, scope: Scope, token: str, transport: str) -> Entry | None:
    """Claim ``token`` for ``transport`` with this process as its owner.

    Returns the claimed entry, or ``None`` when the connection already uses ``transport`` (a second
    WebSocket or SSE request is then refused with 409; a later poll goes to the owner). Raises
    :class:`Refusal` for an unknown token (404), another user's (403), or another transport (400).
    """
    entry = await lookup(endpoint, scope, token)
    if entry.transport and entry.transport != transport:
        raise Refusal(400, "Cannot change transports mid-connection")
    if entry.transport:
        return None
    claimed = await registry().claim(token, transport, await lifetime.process_channel().start())
    if claimed is None:
        raise Refusal(404, NO_CONNECTION)
    if claimed.entry.transport != transport:
        raise Refusal(400, "Cannot change transports mid-connection")
    if not claimed.claimed:
        return None
    _owned.get()[token] = claimed.entry
    loops.services().start("registry-refresh", _refresh_owned)
    return claimed.entry


async def resumable(endpoint: Endpoint, scope: Scope, token: str) -> Entry:
    """The entry of a connection that a new WebSocket for ``token`` may resume (stateful reconnect), or a
    :class:`Refusal`: the token must be this endpoint's and this request's user's (404, 403) and granted
    stateful reconnect (else 409, as for any second WebSocket of a connection)."""
    entry = await lookup(endpoint, scope, token)
    if not entry.stateful:
        raise Refusal(409)
    return entry


def own(token: str, entry: Entry) -> None:
    """Own ``token``'s registry entry from now on (taken over from a dead process): keep it alive."""
    _owned.get()[token] = entry
    loops.services().start("registry-refresh", _refresh_owned)


def held(token: str) -> Resumable | None:
    """The connection :func:`hold` made resumable with ``token`` in this process, if any."""
    table = _resumable.current()
    return table.get(token) if table is not None else None


def hold(token: str, handler: Resumable) -> None:
    """Let a new WebSocket for ``token`` resume ``handler``'s connection until :func:`release`."""
    _resumable.get()[token] = handler


async def socket_ended(
    handler: ConnectionHandlerLike, transport: Transport, token: str, error: Exception | None
) -> None:
    """A socket of ``handler``'s connection ended: a resumable connection may go on without it (waiting for, or
    already on, another one); any other ends here and its token is released."""
    resumable = held(token) if transport.resume_token else None
    if resumable is not None and resumable is handler and await resumable.lost(transport, error):
        return
    try:
        await handler.closed(error)
    finally:
        if token:
            await release(token)


async def release(token: str) -> None:
    """Forget ``token``: its connection ended."""
    forget_here(token)
    await registry().release(token)


def forget_here(token: str) -> None:
    """Stop owning ``token`` in this process (released, or taken over by another process) and refreshing it."""
    for table in (_owned.current(), _resumable.current()):
        if table is not None:
            table.pop(token, None)


_owned: loops.PerLoop[dict[str, Entry]] = loops.PerLoop(dict)
"""The registry entries of every connection this process owns, by token."""
_resumable: loops.PerLoop[dict[str, Resumable]] = loops.PerLoop(dict)
"""The connections of this process that a new WebSocket may resume, by token."""


async def _refresh_owned() -> None:
    """Keep the entries this process owns alive (and write them back if the registry lost them)."""
    interval = min(HOUSEKEEPING_INTERVAL, float(realtime_settings.REGISTRY_TTL) / 3)
    while True:
        await asyncio.sleep(interval)
        try:
            await registry().refresh(dict(_owned.get()))
        except Exception:
            logger.exception("realtime: refreshing the registry entries of this process failed; will retry")
