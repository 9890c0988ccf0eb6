"""The ``REALTIME`` settings dict: defaults, import strings, lazy reads and ``reload()`` (the DRF pattern).

Read settings only through ``realtime_settings.KEY``; unknown keys raise ``AttributeError``. Per-hub
overrides are class attributes of the same name in lower case (``keep_alive_interval``...), resolved
hub → ``REALTIME`` → default by :func:`hub_option`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

DEFAULTS: dict[str, Any] = {
    "CHANNEL_LAYER": "default",
    "PROTOCOLS": [
        "realtime.protocol.json.JsonHubProtocol",
        "realtime.protocol.msgpack.MessagePackHubProtocol",
    ],
    "TRANSPORTS": ["WebSockets", "ServerSentEvents", "LongPolling"],
    "HANDSHAKE_TIMEOUT": 15.0,
    "KEEP_ALIVE_INTERVAL": 15.0,
    "CLIENT_TIMEOUT": 30.0,
    "MAX_MESSAGE_SIZE": 32 * 1024,
    "STREAM_BUFFER_CAPACITY": 10,
    "MAX_PARALLEL_INVOCATIONS": 1,
    "MAX_QUEUED_INVOCATIONS": 32,
    "MAX_STREAMS": 100,
    "MAX_UPLOAD_STREAMS": 100,
    "MAX_GROUPS": 100,
    "MAX_POST_SIZE": 4 * 1024 * 1024,
    "MIN_NEGOTIATE_VERSION": 0,
    "MAX_OUTBOUND_BYTES": 1024 * 1024,
    "DISCONNECT_TIMEOUT": 15.0,
    "STATEFUL_RECONNECT": True,
    "STATEFUL_RECONNECT_BUFFER_SIZE": 100_000,
    "STATEFUL_RECONNECT_STORE": None,
    "CLIENT_RESULT_TIMEOUT": 30.0,
    "DETAILED_ERRORS": False,
    "NAMING": "exact",
    "USER_ID_PROVIDER": "realtime.users.default_user_id",
    "REGISTRY_BACKEND": "realtime.registry.MemoryRegistry",
    "GROUP_REFRESH_INTERVAL": 3600.0,
    "LAYER_CHECK_INTERVAL": 1.0,
    "LAYER_MAX_CONCURRENT_CALLS": 50,
    "POLL_TIMEOUT": 90.0,
    "REDIS_URL": None,
    "REDIS_MAX_CONNECTIONS": 20,
    "HUB_FILTERS": [],
    "DEFAULT_PERMISSION_CLASSES": ["realtime.permissions.AllowAny"],
    "JWT_QUERY_PARAM": "access_token",
    "CLOSE_ON_TOKEN_EXPIRY": True,
    "ALLOWED_ORIGINS": None,
    "MASK_TOKENS_IN_LOGS": True,
    "REGISTRY_TTL": 60.0,
    "MAX_PENDING_CLIENT_RESULTS": 100,
    "TRACK_PRESENCE": False,
    "PRESENCE_EVENT": "PresenceChanged",
    "PRESENCE_BACKEND": "realtime.presence.memory.MemoryPresence",
    "PRESENCE_TTL": 60.0,
    "PRESENCE_LIVENESS_INTERVAL": 2.0,
    "PRESENCE_LIVENESS_TTL": 10.0,
    "PRESENCE_MAX_METADATA_SIZE": 4096,
    "USER_GROUP_BACKEND": "realtime.user_groups.MemoryUserGroups",
    "PUSH_API_KEYS": {},
    "PUSH_API_ENDPOINT": None,
    "PUSH_API_MAX_BODY_SIZE": 1024 * 1024,
    "SSE_HISTORY_BACKEND": "realtime.eventstream.history.MemoryHistory",
    "SSE_HISTORY_SIZE": 1000,
    "SSE_HISTORY_TTL": 86400.0,
    "SSE_HEARTBEAT_INTERVAL": 15.0,
    "SSE_RETRY_MS": 3000,
    "SSE_TOPIC_PATTERN": r"[A-Za-z0-9_.:@-]{1,200}",
    "SSE_MAX_EVENT_SIZE": 64 * 1024,
    "CAPTURE_DATABASE": "default",
    "CAPTURE_LISTENER": "process",
    "CAPTURE_HISTORY_SIZE": 100_000,
    "CAPTURE_BATCH_SIZE": 500,
    "CAPTURE_POLL_INTERVAL": 5.0,
    "CAPTURE_STANDBY_INTERVAL": 1.0,
    "CAPTURE_RECONNECT_MAX": 5.0,
    "SSE_AUTHENTICATION_CLASSES": [
        "realtime.auth.JWTQueryAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
}

IMPORT_STRINGS = {
    "PROTOCOLS",
    "USER_ID_PROVIDER",
    "REGISTRY_BACKEND",
    "HUB_FILTERS",
    "DEFAULT_PERMISSION_CLASSES",
    "PRESENCE_BACKEND",
    "USER_GROUP_BACKEND",
    "SSE_HISTORY_BACKEND",
    "SSE_AUTHENTICATION_CLASSES",
    "STATEFUL_RECONNECT_STORE",
}

HUB_OPTIONS = {
    "PROTOCOLS",
    "TRANSPORTS",
    "HANDSHAKE_TIMEOUT",
    "KEEP_ALIVE_INTERVAL",
    "CLIENT_TIMEOUT",
    "MAX_MESSAGE_SIZE",
    "STREAM_BUFFER_CAPACITY",
    "MAX_PARALLEL_INVOCATIONS",
    "MAX_QUEUED_INVOCATIONS",
    "MAX_STREAMS",
    "MAX_UPLOAD_STREAMS",
    "MAX_GROUPS",
    "MIN_NEGOTIATE_VERSION",
    "MAX_OUTBOUND_BYTES",
    "CLIENT_RESULT_TIMEOUT",
    "DETAILED_ERRORS",
    "MAX_PENDING_CLIENT_RESULTS",
    "TRACK_PRESENCE",
    "PRESENCE_EVENT",
}
"""Settings a hub class may override with a lower-case class attribute."""

RENAMED = {"PRESENCE_MAX_GROUPS": "MAX_GROUPS"}
"""Settings of earlier releases and the names that replaced them (``check_settings`` says so)."""


def perform_import(value: Any, name: str) -> Any:
    """Import a dotted path (or each path of a list), naming the setting on failure."""
    if isinstance(value, str):
        try:
            return import_string(value)
        except ImportError as exc:
            raise ImproperlyConfigured(f"REALTIME[{name!r}]: could not import {value!r}: {exc}") from exc
    if isinstance(value, list | tuple):
        return [perform_import(item, name) for item in value]
    return value


class RealtimeSettings:
    """Lazy view of ``settings.REALTIME`` over :data:`DEFAULTS`."""

    def __init__(self) -> None:
        self._cached: set[str] = set()

    @property
    def user_settings(self) -> dict[str, Any]:
        return getattr(settings, "REALTIME", None) or {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Invalid REALTIME setting: {name!r}")
        value = self.user_settings.get(name, DEFAULTS[name])
        if name in IMPORT_STRINGS:
            value = perform_import(value, name)
        self._cached.add(name)
        setattr(self, name, value)
        return value

    def reload(self) -> None:
        """Forget cached values (called on ``setting_changed``)."""
        for name in self._cached:
            delattr(self, name)
        self._cached.clear()


realtime_settings = RealtimeSettings()


def hub_option(hub: type | None, name: str) -> Any:
    """Resolve option ``name`` for ``hub``: its lower-case class attribute, then ``REALTIME``, then default."""
    if hub is not None:
        value = getattr(hub, name.lower(), None)
        if value is not None:
            return perform_import(value, name) if name in IMPORT_STRINGS else value
    return getattr(realtime_settings, name)


_backends: dict[str, Any] = {}


def configured_backend(name: str) -> Any:
    """The process's one instance of the class that setting ``name`` names (``PRESENCE_BACKEND``...); a new
    one when the setting names another class."""
    backend = getattr(realtime_settings, name)
    found = _backends.get(name)
    if not isinstance(found, backend):
        found = _backends[name] = backend()
    return found


def forget_backend(name: str) -> None:
    """Make the next :func:`configured_backend` call create a fresh instance (tests)."""
    _backends.pop(name, None)


def reload_settings(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed`` receiver: drop cached values when ``REALTIME`` changes."""
    if setting == "REALTIME":
        realtime_settings.reload()
