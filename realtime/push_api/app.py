"""The push API's ASGI app: match a route, check ``api-version`` and the token, read the bounded body, run it.

A plain ASGI app beside the hub routes (outside Django's middleware: no CSRF token, no session), mounted with
:func:`api_routes`::

    application = HubRouter(
        {"hubs/chat": ChatHub}, http=URLRouter([*api_routes({"chat": ChatHub}), re_path(r"", django_asgi_app)])
    )
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, re_path

from ..clients import encode_invocation
from ..conf import realtime_settings
from ..context import HubContext
from ..hubs import Hub
from ..presence import tracks
from ..protocol.base import Frame
from ..transports.http import BodyTooLarge, read_body, respond
from ..types import Receive, Scope, Send
from . import keys, openapi
from .errors import ApiError, bad_request
from .operations import OPERATIONS, Call, Operation, run

logger = logging.getLogger("realtime.push_api")

API_VERSIONS = ("2022-06-01",)
"""The ``api-version`` values this API serves."""
HUB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
"""Azure SignalR's hub names: a letter, then letters, digits and underscores."""
JSON = [(b"content-type", b"application/json")]
OPENAPI_PATH = "/api/openapi.json"


def api_routes(hubs: Mapping[str, type[Hub]]) -> list[URLPattern]:
    """The HTTP routes of the push API for ``{"name": HubClass}``; put them in the ``URLRouter`` of ``HubRouter``'s
    ``http`` (or beside ``hub_routes``'s). They claim ``/api/health``, ``/api/openapi.json`` and ``/api/hubs/...``
    only, so a project's own ``/api/...`` views still reach Django. Names are Azure SignalR hub names (a letter,
    then letters, digits, ``_``), matched case-insensitively. Each hub must track presence
    (``track_presence = True``): the API reads from it which connections, users and groups exist."""
    app: Any = PushApiApp(hubs)  # an ASGI app, which Channels' URLRouter routes (Django's stubs expect a view)
    return [re_path(r"^api/(?:health$|openapi\.json$|hubs/)", app)]  # not the project's other /api/ views


class PushApiApp:
    """ASGI app of the push API for a fixed set of hubs (see the module docstring)."""

    def __init__(self, hubs: Mapping[str, type[Hub]]) -> None:
        self.contexts: dict[str, HubContext] = {}
        for name, hub in hubs.items():
            if not (isinstance(hub, type) and issubclass(hub, Hub)):
                raise ImproperlyConfigured(f"api_routes: {name!r} must map to a Hub subclass, not {hub!r}")
            if not HUB_NAME.fullmatch(name) or name.lower() in self.contexts:
                raise ImproperlyConfigured(f"api_routes: {name!r} is not a hub name (a letter, then [A-Za-z0-9_]) "
                                           "or is given twice")  # fmt: skip
            if not tracks(hub):
                raise ImproperlyConfigured(f"api_routes: {hub.__qualname__} must track presence (track_presence = "
                                           "True; presence_event = '' sends no diffs): the API reads from it which "
                                           "connections, users and groups exist.")  # fmt: skip
            self.contexts[name.lower()] = HubContext(hub)
        self.document = json.dumps(openapi.document(sorted(self.contexts))).encode()
        self.routes = [(operation, operation.path.strip("/").split("/")) for operation in OPERATIONS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        head = scope["method"] == "HEAD"
        try:
            status = await self.serve(scope, receive)
        except ApiError as error:
            if error.status >= 500:
                logger.warning("realtime push API: %s %s failed: %s", scope["method"], scope["path"], error.message)
            headers = [(b"www-authenticate", b"Bearer")] if error.status == 401 else []
            headers += [(b"allow", error.target.encode())] if error.status == 405 and error.target else []
            await respond(send, error.status, b"" if head else error.body(), [] if head else [*JSON, *headers])
            return
        except Exception:
            logger.exception("realtime push API: %s %s failed", scope["method"], scope["path"])
            failure = ApiError(500, "InternalServerError", "The server failed to handle the request.")
            await respond(send, 500, b"" if head else failure.body(), [] if head else JSON)
            return
        if status == 0:
            await respond(send, 200, b"" if head else self.document, JSON)
        elif status is not None:
            await respond(send, status, b"", [])

    async def serve(self, scope: Scope, receive: Receive) -> int | None:
        """Handle one request; its success status (0: the OpenAPI document), ``None`` when the client left."""
        segments = _segments(scope)
        if "/" + "/".join(segments) == OPENAPI_PATH:
            if scope["method"] not in ("GET", "HEAD"):
                raise ApiError(405, "MethodNotAllowed", "Use GET.", target="GET, HEAD")
            return 0
        operation, params = self.match(scope["method"], segments)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        _check_version(query)
        if not operation.hub:
            return operation.status  # health: answering is the check
        hub = params["hub"] if not query.get("application") else f"{query['application'][-1]}_{params['hub']}"
        self.authorize(scope, segments, hub)
        context = self.contexts.get(hub.lower())
        if context is None:
            raise ApiError(404, "HubNotFound", f"No hub {hub!r} is served here.", target="hub")
        call = Call(context, params, query)
        if operation.body:
            limit = int(realtime_settings.PUSH_API_MAX_BODY_SIZE)
            try:
                body = await read_body(receive, limit)
            except BodyTooLarge:
                too_large = f"The body is over {limit} bytes (PUSH_API_MAX_BODY_SIZE)."
                raise ApiError(413, "PayloadTooLarge", too_large) from None
            if body is None:
                return None
            call.frames = parse_message(body, context.hub)
        await run(operation, call)
        return operation.status

    def match(self, method: str, segments: list[str]) -> tuple[Operation, dict[str, str]]:
        """The operation for ``method`` on ``segments`` and its path parameters; 404 or 405 otherwise."""
        allowed = []
        for operation, template in self.routes:
            params = _bind(template, segments)
            if params is None:
                continue
            if operation.method == method:
                return operation, params
            allowed.append(operation.method)
        if allowed:
            raise ApiError(405, "MethodNotAllowed", f"Use {' or '.join(allowed)}.", target=", ".join(allowed))
        raise ApiError(404, "NotFound", "No route of the API has this path.")

    def authorize(self, scope: Scope, segments: list[str], hub: str) -> None:
        """Check the bearer token of the request (``keys.verify``); raises 401 or 403."""
        header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise keys.unauthorized("Send Authorization: Bearer <token signed with an access key>.")
        path = "/" + "/".join(segments)
        keys.verify(token.strip(), _base(scope), scope.get("root_path", "") + path, hub, keys.access_keys())


def _segments(scope: Scope) -> list[str]:
    """The decoded segments of the request path below ``root_path`` (``%2F`` stays inside its segment)."""
    raw = scope.get("raw_path")
    text = raw.decode("latin-1") if isinstance(raw, bytes) else scope["path"]
    root = scope.get("root_path", "")
    if root and text.startswith(root):
        text = text[len(root) :]
    return [unquote(segment) for segment in text.strip("/").split("/")]


def _bind(template: list[str], segments: list[str]) -> dict[str, str] | None:
    """The path parameters if ``segments`` fit ``template`` (literals match case-insensitively), else ``None``."""
    if len(template) != len(segments):
        return None
    params = {}
    for pattern, segment in zip(template, segments, strict=True):
        if pattern.startswith("{"):
            if not segment:
                return None
            params[pattern[1:-1]] = segment
        elif pattern.lower() != segment.lower():
            return None
    return params


def _check_version(query: dict[str, list[str]]) -> None:
    versions = query.get("api-version")
    if not versions:
        raise bad_request("The api-version query parameter is required (api-version=2022-06-01).", target="api-version")
    if versions[-1] not in API_VERSIONS:
        raise bad_request(f"api-version {versions[-1]!r} is not served; use 2022-06-01.", target="api-version")


def _base(scope: Scope) -> str:
    """Scheme and host the request was sent to: ``PUSH_API_ENDPOINT``, else its own (the ``Host`` header)."""
    endpoint = realtime_settings.PUSH_API_ENDPOINT
    if endpoint:
        return str(endpoint).rstrip("/")
    host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
    if not host and scope.get("server"):
        host = "{}:{}".format(*scope["server"])
    return f"{scope.get('scheme', 'http')}://{host}"


def parse_message(body: bytes, hub: type[Hub]) -> dict[str, Frame]:
    """The invocation a send body asks for (``{"target": str, "arguments": [...]}``), encoded for every hub
    protocol; 400 with the reason for anything else."""
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"The body is not JSON: {exc}", target="body") from None
    if not isinstance(data, dict):
        raise bad_request('The body must be a JSON object: {"target": str, "arguments": [...]}.', target="body")
    target, arguments = data.get("target"), data.get("arguments")
    if not isinstance(target, str) or not target:
        raise bad_request("target must be a non-empty string: the client method to call.", target="target")
    if arguments is None:
        arguments = []
    if not isinstance(arguments, list):
        raise bad_request("arguments must be a JSON array.", target="arguments")
    try:
        return encode_invocation(hub, target, arguments)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise bad_request(f"The arguments cannot be sent to clients: {exc}", target="arguments") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
