"""The HTTP side of an endpoint: negotiate, Server-Sent Events, long polls, POST sends and DELETE.

It is a plain ASGI app (outside Django's middleware stack, so no CSRF or GZip middleware touches it:
negotiate, POST and DELETE carry no CSRF token; the secret connection token protects them instead).
Requests for a connection owned by another process are routed to it over the channel layer.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Coroutine
from typing import Any, TypeVar

from .. import events, lifetime
from ..conf import realtime_settings
from ..endpoints import ConnectionInfo, Endpoint
from ..protocol import negotiate
from ..registry import Entry, new_id, registry
from ..request import RequestInfo
from ..types import Receive, Scope, Send
from ..users import scope_user
from .claim import NO_CONNECTION, TEXT, Refusal, admit, claim, lookup, require
from .longpolling import LongPollingTransport
from .owner import GONE, HANDLED, TOO_MANY, owner_of
from .sse import SseTransport, disconnected

logger = logging.getLogger("realtime.transports.http")

NO_CACHE = [(b"cache-control", b"no-cache, no-store")]
POLL_HEADERS = [
    (b"content-type", b"application/octet-stream"),
    (b"cache-control", b"no-cache, no-store"),
    (b"pragma", b"no-cache"),
    (b"expires", b"Thu, 01 Jan 1970 00:00:00 GMT"),
]
ORDER = (negotiate.WEBSOCKETS, negotiate.SERVER_SENT_EVENTS, negotiate.LONG_POLLING)
OWNER_ACK_TIMEOUT = 5.0
"""How long a POST routed to another process waits for the owner to acknowledge it; past it the owner is
taken for gone (the connection answers 404, as once its registry entry expires)."""
POSTS_IN_FLIGHT = 2
"""POSTs of one connection this process reads at once: the one being handled and the next (clients send one
at a time); more are refused before their body is read, so they cannot hold its memory."""
UNAVAILABLE = "The server cannot take connections now: "
"""Start of the 503 bodies of a negotiate refused because the connection could not work (the clients show them)."""
T = TypeVar("T")


async def respond(send: Send, status: int, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a complete HTTP response (with its ``Content-Length``)."""
    headers = [*(headers or []), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """A request body went past the limit given to :func:`read_body`."""


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or ``None`` when the client went away; :class:`BodyTooLarge` past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def until_disconnected(work: Coroutine[Any, Any, T], receive: Receive) -> T | None:
    """Await ``work`` unless the client disconnects first (then cancel it and return ``None``)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(disconnected(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)
    return task.result() if task.done() and not task.cancelled() else None


class EndpointHttpApp:
    """ASGI app for ``[base]`` and ``[base]/negotiate`` of one endpoint."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._posting: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            await admit(self.endpoint, scope)
            if scope["path"].rstrip("/").lower().endswith("/negotiate"):
                await self.negotiate(scope, send)
            else:
                await self.transport_request(scope, receive, send)
        except Refusal as refusal:
            logger.info(
                "realtime: %s %s refused: %s %s", scope["method"], self.endpoint.name, refusal.status, refusal.body
            )
            await respond(send, refusal.status, refusal.body.encode(), TEXT if refusal.body else [])

    def transports(self) -> list[str]:
        """Transports this endpoint offers, in SignalR's order."""
        return [name for name in ORDER if name in self.endpoint.transports]

    async def negotiate(self, scope: Scope, send: Send) -> None:
        """``POST [base]/negotiate``: create a connection and list the transports."""
        if scope["method"] != "POST":
            raise Refusal(405)
        request = RequestInfo.of(scope)
        try:
            version = negotiate.select_negotiate_version(
                request.query_value("negotiateVersion"), minimum=self.endpoint.min_negotiate_version
            )
        except negotiate.NegotiateError as exc:
            await respond(send, 200, negotiate.negotiate_error(str(exc)), [(b"content-type", b"application/json")])
            return
        await self._require_layer()
        _, user_id = scope_user(scope)
        connection_id = new_id()
        token = new_id() if version >= 1 else connection_id
        stateful = (
            self.endpoint.stateful_reconnect
            and negotiate.WEBSOCKETS in self.endpoint.transports
            and request.query_value("useStatefulReconnect") == "true"
        )
        entry = Entry(connection_id=connection_id, endpoint=self.endpoint.name, user_id=user_id, stateful=stateful)
        try:
            await registry().create(token, entry)
        except Exception as exc:
            logger.warning("realtime: negotiate refused: REGISTRY_BACKEND could not record the connection: %r", exc)
            raise Refusal(503, UNAVAILABLE + "its connection registry cannot be written; retry later") from None
        body = negotiate.negotiate_response(
            version=version,
            connection_id=connection_id,
            connection_token=token,
            transports=negotiate.available_transports(self.transports()),
            stateful_reconnect=stateful,
        )
        await respond(send, 200, body, [(b"content-type", b"application/json"), *NO_CACHE])

    async def _require_layer(self) -> None:
        """Refuse (503) a connection that could not work: the channel layer is missing, cannot be opened, or is
        failing right now as this process's channel knows from its probes (no layer round trip once it runs)."""
        try:
            channel = lifetime.process_channel()
        except Exception as exc:  # no such CHANNEL_LAYERS alias, or a backend that cannot be imported or built
            logger.error("realtime: negotiate refused: the channel layer is unusable: %s", exc)
            raise Refusal(503, UNAVAILABLE + "its channel layer is not configured (see the server log)") from None
        try:
            if channel.name is None:  # once per process: then a started channel costs nothing here
                await channel.start()
        except Exception as exc:
            logger.warning("realtime: negotiate refused: the channel layer cannot be opened: %r", exc)
            raise Refusal(503, UNAVAILABLE + "its channel layer cannot be reached; retry later") from None
        if channel.failing:
            raise Refusal(503, UNAVAILABLE + "its channel layer is failing; retry later")

    async def transport_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``GET``/``POST``/``DELETE [base]?id=<token>``."""
        method = scope["method"]
        if method not in ("GET", "POST", "DELETE"):
            raise Refusal(405)
        request = RequestInfo.of(scope)
        token = request.query_value("id")
        if not token:
            raise Refusal(400, "Connection ID required")
        if method == "GET" and "text/event-stream" in (request.header("accept") or ""):
            await self.server_sent_events(scope, receive, send, token)
        elif method == "GET":
            await self.poll(scope, receive, send, token)
        elif method == "POST":
            await self.post(scope, receive, send, token)
        else:
            await self.delete(scope, send, token)

    async def server_sent_events(self, scope: Scope, receive: Receive, send: Send, token: str) -> None:
        """The SSE GET: claim the connection and own it for as long as the response stays open."""
        require(self.endpoint, negotiate.SERVER_SENT_EVENTS)
        entry = await claim(self.endpoint, scope, token, negotiate.SERVER_SENT_EVENTS)
        if entry is None:
            raise Refusal(409)
        await SseTransport(self.endpoint, ConnectionInfo.from_scope(scope, entry.connection_id), token).serve(
            send, receive
        )

    async def poll(self, scope: Scope, receive: Receive, send: Send, token: str) -> None:
        """A long poll: the first one starts the owner here and is answered at once; later ones wait."""
        require(self.endpoint, negotiate.LONG_POLLING)
        entry = await claim(self.endpoint, scope, token, negotiate.LONG_POLLING)
        if entry is not None:
            LongPollingTransport(self.endpoint, ConnectionInfo.from_scope(scope, entry.connection_id), token).start()
            await respond(send, 200, b"", POLL_HEADERS)
            return
        timeout = float(realtime_settings.POLL_TIMEOUT)
        owner = owner_of(token)
        if isinstance(owner, LongPollingTransport):
            answer = await until_disconnected(owner.poll(timeout), receive)
            if answer is None:  # the client left: its poll takes nothing from the mailbox
                return
            status, body = answer
        else:
            status, body = await self._remote(token, events.poll(token, timeout), timeout + 10)
        await respond(send, status, body, POLL_HEADERS)

    async def post(self, scope: Scope, receive: Receive, send: Send, token: str) -> None:
        """``POST [base]``: hand the body to the owner of the connection, wherever it runs."""
        entry = await lookup(self.endpoint, scope, token)
        if entry.transport == negotiate.WEBSOCKETS:
            raise Refusal(405, "POST requests are not allowed for WebSocket connections.")
        if not entry.transport:
            raise Refusal(404, NO_CONNECTION)
        if self._posting[token] >= POSTS_IN_FLIGHT:
            raise Refusal(TOO_MANY, "Too much data is waiting for this connection; send one request at a time.")
        self._posting[token] += 1
        try:
            status = await self._hand_over(receive, entry, token)
        finally:
            self._posting[token] -= 1
            if not self._posting[token]:
                del self._posting[token]
        if status == TOO_MANY:
            raise Refusal(TOO_MANY, "Too much data is waiting for this connection; send one request at a time.")
        if status == GONE:
            raise Refusal(GONE, NO_CONNECTION)
        await respond(send, HANDLED)

    async def _hand_over(self, receive: Receive, entry: Entry, token: str) -> int:
        """Read the POST body and hand it to the connection's owner, here or in another process."""
        limit = int(realtime_settings.MAX_POST_SIZE)
        try:
            body = await read_body(receive, limit)
        except BodyTooLarge:
            body = None
        if body is None:  # too large, or the client went away: either way it is answered 413 and not handed on
            raise Refusal(413, f"Request bodies are limited to {limit} bytes (MAX_POST_SIZE).")
        owner = owner_of(token)
        if owner is not None:
            return await owner.post(body)
        return await self._post_remote(entry, token, body)

    async def _post_remote(self, entry: Entry, token: str, body: bytes) -> int:
        """Hand ``body`` to the owner process and wait until it took it in; the status to answer."""
        try:
            reply = await lifetime.request_acknowledged(
                entry.owner,
                events.transport_data(token, body),
                ack_timeout=OWNER_ACK_TIMEOUT,
                timeout=float(realtime_settings.POLL_TIMEOUT),
            )
        except lifetime.ChannelFull:
            raise Refusal(503, "The connection's server is too busy; retry.") from None
        except TimeoutError as exc:
            if exc.args == ("ack",):
                raise Refusal(GONE, NO_CONNECTION) from None
            raise Refusal(503, "The connection's server did not take the data in time.") from None
        return int(reply["status"])

    async def delete(self, scope: Scope, send: Send, token: str) -> None:
        """``DELETE [base]``: end a long-polling connection."""
        entry = await lookup(self.endpoint, scope, token)
        if entry.transport != negotiate.LONG_POLLING:
            raise Refusal(400, "Cannot terminate this connection using the DELETE endpoint.")
        owner = owner_of(token)
        if isinstance(owner, LongPollingTransport):
            await owner.delete()
        else:
            await self._remote(token, events.delete(token), 10)
        await respond(send, 202)

    async def _remote(self, token: str, event: events.Event, timeout: float) -> tuple[int, bytes]:
        """Run a poll or DELETE on the owner process; ``(status, body)`` of its answer."""
        entry = await registry().lookup(token)
        if entry is None or not entry.owner:
            return 404, NO_CONNECTION.encode()
        try:
            reply = await lifetime.request_channel(entry.owner, event, timeout=timeout)
        except lifetime.ChannelFull:
            return 503, b""
        except TimeoutError:
            return (204 if event["type"] == events.POLL else 202), b""
        return reply["status"], reply["body"]
