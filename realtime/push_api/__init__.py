"""The push API for other services: Azure SignalR Service's data-plane REST API (version 2022-06-01) over the
hub context, so a Go worker, a Node backend or a shell script sends to clients and manages groups over HTTP.

:func:`api_routes` mounts it; ``REALTIME["PUSH_API_KEYS"]`` names its access keys (:mod:`.keys`); the routes are
in :mod:`.operations` and described by :mod:`.openapi` (served at ``GET /api/openapi.json``).
"""

from __future__ import annotations

from .app import API_VERSIONS, PushApiApp, api_routes
from .errors import ApiError
from .keys import AccessKey, access_keys, connection_string, sign_token

__all__ = [
    "API_VERSIONS",
    "AccessKey",
    "ApiError",
    "PushApiApp",
    "access_keys",
    "api_routes",
    "connection_string",
    "sign_token",
]
