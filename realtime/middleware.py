"""``ConnectionIdMiddleware``: pushes made while handling a request skip the page that sent it ("to others").

The browser client's ``connection.fetch()`` adds the ``X-Realtime-Connection-Id`` header; with this
middleware in ``MIDDLEWARE``, every push to several connections made while the request is handled (a view,
a model event) skips that connection, which already has the view's answer. ``realtime.clients.sender()``
does the same outside requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from .clients import sender

__all__ = ["CONNECTION_ID_HEADER", "ConnectionIdMiddleware", "connection_id_of"]

CONNECTION_ID_HEADER = "X-Realtime-Connection-Id"
"""Request header naming the caller's hub connection; the JS client's ``connection.fetch()`` adds it."""

_VALID_ID = re.compile(r"[A-Za-z0-9_.:=+/-]{1,128}")


def connection_id_of(request: HttpRequest) -> str | None:
    """The well-formed ``X-Realtime-Connection-Id`` of ``request``, else ``None`` (malformed ids are ignored)."""
    value = request.headers.get(CONNECTION_ID_HEADER, "").strip()
    return value if _VALID_ID.fullmatch(value) else None


class ConnectionIdMiddleware:
    """Makes pushes made while handling a request skip the connection named by its header.

    Add ``"realtime.middleware.ConnectionIdMiddleware"`` to ``MIDDLEWARE``; works in sync and async stacks.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        with sender(connection_id_of(request)):
            return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        with sender(connection_id_of(request)):
            return await self.get_response(request)
