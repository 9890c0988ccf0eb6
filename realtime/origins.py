"""The Origin allow-list for negotiate, Server-Sent Events and WebSocket upgrades.

Browsers send cookies with cross-site WebSocket and EventSource requests; checking ``Origin`` stops
cross-site WebSocket hijacking. ``REALTIME["ALLOWED_ORIGINS"]`` lists origins (``https://app.example``)
or host patterns (``.example.com``, ``*``); ``None`` derives them from ``ALLOWED_HOSTS``, as Channels'
``AllowedHostsOriginValidator`` does. Requests without an ``Origin`` header (non-browser clients) pass.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import is_same_domain

from .conf import realtime_settings
from .request import RequestInfo
from .types import Scope

DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]


def allowed_patterns() -> list[str]:
    """The configured origins/host patterns."""
    configured = realtime_settings.ALLOWED_ORIGINS
    if configured is not None:
        return list(configured)
    hosts = list(settings.ALLOWED_HOSTS)
    return hosts or (DEBUG_HOSTS if settings.DEBUG else [])


def origin_allowed(scope: Scope) -> bool:
    """Whether the request's ``Origin`` (if any) is allowed."""
    origin = RequestInfo.of(scope).header("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    if not parts.hostname:
        return False
    for pattern in allowed_patterns():
        if pattern == "*":
            return True
        if "://" in pattern:
            if origin.rstrip("/").lower() == pattern.rstrip("/").lower():
                return True
        elif is_same_domain(parts.hostname, pattern):
            return True
    return False
