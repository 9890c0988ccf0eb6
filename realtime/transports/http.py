"""The hub's HTTP side: negotiate, and the answers for transport requests this server does not serve.

It is a plain ASGI app (outside Django's middleware stack, so no CSRF or GZip middleware touches it).
"""

from __future__ import annotations

import logging
from typing import ClassVar

from ..auth import scope_user
from ..conf import hub_option
from ..hubs import Hub
from ..protocol import negotiate
from ..registry import Entry, new_id, registry
from ..request import RequestInfo
from ..types import Receive, Scope, Send

logger = logging.getLogger("realtime.transports.http")

TEXT = [(b"content-type", b"text/plain")]
NO_CACHE = [(b"cache-control", b"no-cache, no-store")]


async def respond(send: Send, status: int, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a complete HTTP response."""
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or ``None`` when it exceeds ``limit`` bytes or the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


class HubHttpApp:
    """ASGI app for ``[base]`` and ``[base]/negotiate`` of one hub."""

    enabled_transports: ClassVar[tuple[str, ...]] = ("WebSockets",)

    def __init__(self, hub: type[Hub]) -> None:
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"].rstrip("/").lower().endswith("/negotiate"):
            await self.negotiate(scope, receive, send)
        else:
            await self.transport_request(scope, receive, send)

    def transports(self) -> list[str]:
        """Transports this endpoint offers, in SignalR's order."""
        configured = hub_option(self.hub, "TRANSPORTS")
        return [name for name in self.enabled_transports if name in configured]

    async def negotiate(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST [base]/negotiate``: create a connection and list the transports."""
        if scope["method"] != "POST":
            await respond(send, 405)
            return
        request = RequestInfo.from_scope(scope)
        try:
            version = negotiate.select_negotiate_version(request.query_value("negotiateVersion"))
        except negotiate.NegotiateError as exc:
            await respond(send, 200, negotiate.negotiate_error(str(exc)), [(b"content-type", b"application/json")])
            return
        _, user_id = scope_user(scope)
        connection_id = new_id()
        token = new_id() if version >= 1 else connection_id
        await registry().create(token, Entry(connection_id=connection_id, hub=self.hub.hub_name(), user_id=user_id))
        body = negotiate.negotiate_response(
            version=version,
            connection_id=connection_id,
            connection_token=token,
            transports=negotiate.available_transports(self.transports()),
        )
        await respond(send, 200, body, [(b"content-type", b"application/json"), *NO_CACHE])

    async def transport_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``GET``/``POST``/``DELETE [base]``: the HTTP transports, refused while not enabled here."""
        method = scope["method"]
        if method not in ("GET", "POST", "DELETE"):
            await respond(send, 405)
            return
        request = RequestInfo.from_scope(scope)
        if not request.query_value("id"):
            await respond(send, 400, b"Connection ID required", TEXT)
            return
        accept = request.header("accept") or ""
        transport = "ServerSentEvents" if "text/event-stream" in accept else "LongPolling"
        if method == "GET":
            await respond(send, 404, f"{transport} transport not supported by this end point type".encode(), TEXT)
        else:
            await respond(send, 404, b"No Connection with that ID", TEXT)
