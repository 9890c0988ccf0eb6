"""Authentication for hub and endpoint routes: JWT (simplejwt) from the header or the query, and sessions.

Browsers cannot set headers on WebSocket and EventSource requests, so SignalR clients put the access
token in ``?access_token=``; simplejwt itself reads only the ``Authorization`` header. The middleware
here accepts either (header first), validates the token with simplejwt's own settings and token classes
(signing key, algorithms, user id claim, token types, blacklist when installed), and sets
``scope["user"]``, ``scope["auth_claims"]`` (the token's payload) and ``scope["auth_expires"]`` (its
``exp``, a UNIX timestamp).

Recipe (``asgi.py``)::

    http_hubs, websocket_hubs = hub_routes({"chathub": ChatHub}, middleware=JWTAuthMiddlewareStack)

Django REST framework views (and the SSE views) use :class:`JWTQueryAuthentication`, the same convention as
an authentication class::

    class ExportView(APIView):
        authentication_classes = [JWTQueryAuthentication, SessionAuthentication]
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from importlib import import_module
from typing import TYPE_CHECKING, Any

from asgiref.sync import markcoroutinefunction
from channels.auth import AuthMiddlewareStack, get_user
from channels.db import database_sync_to_async
from django.conf import settings
from django.http import parse_cookie
from rest_framework_simplejwt.authentication import JWTAuthentication

from .conf import realtime_settings
from .exceptions import InvalidToken
from .request import RequestInfo
from .types import Receive, Scope, Send
from .users import scope_user

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request
    from rest_framework_simplejwt.tokens import Token

logger = logging.getLogger("realtime.auth")


def raw_token(scope: Scope) -> str | None:
    """The access token of a request: ``Authorization: Bearer`` first, then the query parameter."""
    request = RequestInfo.of(scope)
    header = request.header("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_value(realtime_settings.JWT_QUERY_PARAM) or None


class JWTQueryAuthentication(JWTAuthentication):
    """simplejwt's ``JWTAuthentication``, plus the access token in the query string: the DRF authentication class
    of the convention browsers' WebSockets and ``EventSource`` need.

    The ``Authorization`` header first (simplejwt's ``AUTH_HEADER_NAME`` and ``AUTH_HEADER_TYPES``), then the
    ``REALTIME["JWT_QUERY_PARAM"]`` query parameter (``access_token``; its name matched case-insensitively).
    Tokens are validated as simplejwt does (settings, token classes, user lookup, blacklist); an invalid one
    raises ``InvalidToken`` (401 in a DRF view). Returns ``(user, validated token)``, or ``None`` without a token.
    """

    def authenticate(self, request: Request) -> tuple[Any, Token] | None:
        found = super().authenticate(request)
        if found is not None:
            return found
        raw = self.get_query_token(request)
        if raw is None:
            return None
        validated = self.get_validated_token(raw.encode())
        return self.get_user(validated), validated

    def get_query_token(self, request: Request) -> str | None:
        """The token in the query string, or ``None``."""
        name = realtime_settings.JWT_QUERY_PARAM.lower()
        found = next((values for key, values in request.query_params.lists() if key.lower() == name), None)
        return found[0] if found and found[0] else None


def _validate(raw: str) -> tuple[Any, dict[str, Any]]:
    from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
    from rest_framework_simplejwt.exceptions import InvalidToken as SimpleJWTInvalidToken

    authentication = JWTAuthentication()
    try:
        validated = authentication.get_validated_token(raw.encode())
        user = authentication.get_user(validated)
    except (SimpleJWTInvalidToken, AuthenticationFailed, TokenError) as exc:
        detail = getattr(exc, "detail", None)
        message = detail.get("detail") if isinstance(detail, dict) else str(exc)
        raise InvalidToken(str(message)) from exc
    return user, dict(validated.payload)


async def authenticate_jwt(raw: str) -> tuple[Any, dict[str, Any]]:
    """Validate ``raw`` with simplejwt; returns ``(user, claims)`` or raises :class:`InvalidToken`."""
    return await database_sync_to_async(_validate)(raw)


async def apply_token(scope: Scope, raw: str) -> None:
    """Set ``scope``'s user from the access token ``raw``, or make it anonymous and record why (it is a copy)."""
    try:
        scope["user"], scope["auth_claims"] = await authenticate_jwt(raw)
        scope["auth_expires"] = scope["auth_claims"].get("exp")
    except InvalidToken as exc:
        from django.contrib.auth.models import AnonymousUser

        scope["user"], scope["auth_error"] = AnonymousUser(), str(exc)
        logger.info("realtime: rejected an access token on %s: %s", scope.get("path"), exc)


class JWTAuthMiddleware:
    """ASGI middleware: authenticate HTTP and WebSocket requests that carry a JWT.

    A request without a token passes through unchanged (a session middleware may have set the user);
    an invalid or expired token makes the user anonymous and records why in ``scope["auth_error"]``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            raw = raw_token(scope)
            if raw is not None:
                scope = dict(scope)
                await apply_token(scope, raw)
        await self.app(scope, receive, send)


class WebSocketAuthMiddleware:
    """Channels' ``AuthMiddlewareStack`` (cookies, session, user) and optionally a JWT, in one step for WebSockets.

    What Channels' three middlewares do for a WebSocket, with one scope copy instead of four and at most
    one frame (none for an anonymous connection: nothing to wait for) for the life of the connection,
    about 3 KB less per idle connection; a connection without a session cookie gets ``AnonymousUser``
    without a trip to the database thread. HTTP requests (short, and the session may need saving on the
    response) go through Channels' own stack unchanged.
    """

    def __init__(self, app: Any, *, jwt: bool = True) -> None:
        self.app, self.jwt = app, jwt
        self.http_app = AuthMiddlewareStack(JWTAuthMiddleware(app) if jwt else app)

    @markcoroutinefunction  # an ASGI 3 app to servers and asgiref, though it returns the app's own coroutine
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "websocket":
            return self.http_app(scope, receive, send)
        scope = dict(scope)
        if "cookies" not in scope:
            header = next((value for name, value in scope["headers"] if name == b"cookie"), b"")
            scope["cookies"] = parse_cookie(header.decode("latin1")) if header else {}
        if "session" not in scope:
            store = import_module(settings.SESSION_ENGINE).SessionStore
            scope["session"] = store(scope["cookies"].get(settings.SESSION_COOKIE_NAME))
        raw = raw_token(scope) if self.jwt else None
        if raw is None:
            if "user" not in scope and scope["session"].session_key is None:
                from django.contrib.auth.models import AnonymousUser

                scope["user"] = AnonymousUser()
            if "user" in scope:  # nothing to wait for: the app's own coroutine runs, no frame of ours
                return self.app(scope, receive, send)
        return self._authenticated(scope, raw, receive, send)

    async def _authenticated(self, scope: Scope, raw: str | None, receive: Receive, send: Send) -> None:
        if raw is not None:
            await apply_token(scope, raw)
        else:
            scope["user"] = await get_user(scope)
        connection = self.app(scope, receive, send)
        del scope  # the app holds what it needs for the connection's life; this frame holds no copy
        await connection


def JWTAuthMiddlewareStack(app: Any) -> Any:  # noqa: N802  (named like Channels' AuthMiddlewareStack)
    """Session authentication (as Channels' ``AuthMiddlewareStack``) with JWT on top: a token wins."""
    return WebSocketAuthMiddleware(app, jwt=True)


def SessionAuthMiddlewareStack(app: Any) -> Any:  # noqa: N802
    """Session authentication only: Channels' ``AuthMiddlewareStack``, lighter on WebSockets."""
    return WebSocketAuthMiddleware(app, jwt=False)


async def request_user(request: HttpRequest) -> tuple[Any, str | None]:
    """The user of a Django request (an SSE view, any view) and its identifier, authenticated as for hubs.

    A JWT (``Authorization: Bearer`` or ``?access_token=``) wins, unless an ASGI middleware
    (``JWTAuthMiddlewareStack``) already handled it; then the user an ASGI auth middleware put in the
    scope; then Django's session user (``AuthenticationMiddleware``); else ``None``, as for hubs. An
    invalid token makes the request anonymous, as for hubs.
    """
    scope = getattr(request, "scope", {})
    raw = raw_token(scope)
    user: Any = None
    if raw is not None and "auth_claims" not in scope and "auth_error" not in scope:
        try:
            user, _ = await authenticate_jwt(raw)
        except InvalidToken as exc:
            from django.contrib.auth.models import AnonymousUser

            logger.info("realtime: rejected an access token on %s: %s", request.path, exc)
            user = AnonymousUser()
    elif "user" in scope:
        return scope_user(scope)
    elif hasattr(request, "auser"):
        user = await request.auser()
    return user, realtime_settings.USER_ID_PROVIDER(user)
