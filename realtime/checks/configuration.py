"""Checks of the configuration: the channel layer, the ASGI application and the ``REALTIME`` settings."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from ..conf import DEFAULTS, RENAMED, realtime_settings
from ..links import doc_url


@register()
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """A channel layer must exist: hubs route everything through it."""
    alias = realtime_settings.CHANNEL_LAYER
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    if alias not in layers:
        return [
            Error(
                f"CHANNEL_LAYERS has no {alias!r} layer, and realtime needs one.",
                hint='Add CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}} '
                "for one process, or channels_redis.pubsub.RedisPubSubChannelLayer for several "
                f"({doc_url('deployment.md')}).",
                id="realtime.E001",
            )
        ]
    return _check_redis_timeout(layers[alias])


def _check_redis_timeout(config: dict[str, Any]) -> list[Any]:
    """redis-py 8 times out idle ``RedisChannelLayer`` consumers after 5 s unless ``socket_timeout`` is set
    (to ``None``, or above the layer's 5 s blocking read)."""
    if not str(config.get("BACKEND", "")).endswith("core.RedisChannelLayer"):
        return []
    try:
        import redis
        from channels_redis.core import RedisChannelLayer
    except ImportError:
        return []
    if int(redis.__version__.split(".")[0]) < 8:
        return []
    hosts = (config.get("CONFIG") or {}).get("hosts") or []
    if hosts and all(_outlasts(host, RedisChannelLayer.brpop_timeout) for host in hosts):
        return []
    return [
        Warning(
            f"redis-py {redis.__version__} drops idle RedisChannelLayer consumers after 5 s.",
            hint='Set the socket timeout of every host: "hosts": [{"address": REDIS_URL, "socket_timeout": None}] '
            "(None, or more seconds than the layer's 5 s blocking read).",
            id="realtime.W003",
        )
    ]


def _outlasts(host: Any, blocking_read: float) -> bool:
    """Whether a ``hosts`` entry sets a socket timeout that a blocking read of ``blocking_read`` s survives."""
    if not isinstance(host, dict) or "socket_timeout" not in host:
        return False
    return host["socket_timeout"] is None or float(host["socket_timeout"]) > blocking_read


@register()
def check_asgi_application(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Hubs need an ASGI server: ``ASGI_APPLICATION`` must name the app that routes them."""
    if not getattr(settings, "ASGI_APPLICATION", None):
        return [
            Error(
                "ASGI_APPLICATION is not set; hubs are served only by an ASGI application.",
                hint='Set ASGI_APPLICATION = "yourproject.asgi.application" and route hubs there '
                "with realtime.HubRouter (or realtime.hub_routes()).",
                id="realtime.E002",
            )
        ]
    return []


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Unknown ``REALTIME`` keys and timing values that cannot work together."""
    user = getattr(settings, "REALTIME", None) or {}
    problems: list[Any] = [
        Error(
            f"REALTIME[{key!r}] is not a realtime setting.",
            hint=f"It is now called {RENAMED[key]!r}." if key in RENAMED else f"Known settings: {', '.join(DEFAULTS)}.",
            id="realtime.E004",
        )
        for key in user
        if key not in DEFAULTS
    ]
    keep_alive = float(user.get("KEEP_ALIVE_INTERVAL", DEFAULTS["KEEP_ALIVE_INTERVAL"]))
    client_timeout = float(user.get("CLIENT_TIMEOUT", DEFAULTS["CLIENT_TIMEOUT"]))
    if keep_alive > client_timeout / 2:
        problems.append(
            Warning(
                f"KEEP_ALIVE_INTERVAL ({keep_alive} s) is above half of CLIENT_TIMEOUT ({client_timeout} s): "
                "clients using the same values will time out connections that are alive.",
                hint="Keep CLIENT_TIMEOUT at least twice KEEP_ALIVE_INTERVAL (SignalR: 15 s and 30 s).",
                id="realtime.W005",
            )
        )
    problems += redis_without_url(user, "PRESENCE_BACKEND", "RedisPresence", "realtime.E006")
    problems += redis_without_url(
        user, "REGISTRY_BACKEND", "RedisRegistry", "realtime.E010", ": every negotiate would fail"
    )
    if float(user.get("PRESENCE_TTL", DEFAULTS["PRESENCE_TTL"])) <= 0:
        problems.append(Error("PRESENCE_TTL must be a positive number of seconds.", id="realtime.E007"))
    problems += redis_without_url(user, "STATEFUL_RECONNECT_STORE", "RedisResumeStore", "realtime.E012")
    problems += _at_least_one(
        user,
        "STATEFUL_RECONNECT_BUFFER_SIZE",
        "must be at least 1 byte: a full buffer makes every write wait.",
        "Keep SignalR's 100000, or set STATEFUL_RECONNECT = False to grant no stateful reconnect.",
        "realtime.E011",
    )
    problems += _at_least_one(
        user,
        "LAYER_MAX_CONCURRENT_CALLS",
        "must be at least 1: no channel layer call could ever run.",
        "Keep 50, below the layer's Redis connection pool (redis-py 8: max_connections 100).",
        "realtime.E013",
    )
    return problems + _check_presence_liveness(user)


def _at_least_one(user: dict[str, Any], name: str, why: str, hint: str, check_id: str) -> list[Any]:
    """An error when the integer setting ``name`` is below 1."""
    if int(user.get(name, DEFAULTS[name])) >= 1:
        return []
    return [Error(f"{name} {why}", hint=hint, id=check_id)]


def _check_presence_liveness(user: dict[str, Any]) -> list[Any]:
    """A process must beat (``PRESENCE_LIVENESS_INTERVAL``) well within its liveness (``PRESENCE_LIVENESS_TTL``)."""
    interval = float(user.get("PRESENCE_LIVENESS_INTERVAL", DEFAULTS["PRESENCE_LIVENESS_INTERVAL"]))
    liveness = float(user.get("PRESENCE_LIVENESS_TTL", DEFAULTS["PRESENCE_LIVENESS_TTL"]))
    if interval <= 0 or liveness <= interval:
        return [
            Error(
                f"PRESENCE_LIVENESS_TTL ({liveness} s) must be above PRESENCE_LIVENESS_INTERVAL ({interval} s), "
                "both positive: live processes would be given up for dead between their beats.",
                hint="Keep PRESENCE_LIVENESS_TTL several times PRESENCE_LIVENESS_INTERVAL (defaults: 10 s and 2 s).",
                id="realtime.E008",
            )
        ]
    if liveness < 2 * interval:
        return [
            Warning(
                f"PRESENCE_LIVENESS_TTL ({liveness} s) is below twice PRESENCE_LIVENESS_INTERVAL ({interval} s): "
                "one late beat gets a live process given up for dead (its connections announced as left, then "
                "joined again).",
                hint="Keep PRESENCE_LIVENESS_TTL several times PRESENCE_LIVENESS_INTERVAL (defaults: 10 s and 2 s).",
                id="realtime.W009",
            )
        ]
    return []


def redis_without_url(user: dict[str, Any], setting: str, backend: str, error_id: str, why: str = "") -> list[Any]:
    """The error ``error_id`` when ``REALTIME[setting]`` names the Redis class ``backend`` but no ``REDIS_URL``."""
    chosen = user.get(setting, DEFAULTS.get(setting))
    if not str(getattr(chosen, "__name__", chosen or "")).endswith(backend) or user.get("REDIS_URL"):
        return []
    message = f"{setting} is {backend} but REDIS_URL is not set{why}."
    hint = 'Set REALTIME["REDIS_URL"] = "redis://127.0.0.1:6379/0" (the Redis every process shares).'
    return [Error(message, hint=hint, id=error_id)]


@register()
def check_sse(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """SSE topic settings: the history backend, its sizes and the topic pattern (``realtime.eventstream``)."""
    user = getattr(settings, "REALTIME", None) or {}
    problems: list[Any] = []
    problems += redis_without_url(user, "SSE_HISTORY_BACKEND", "RedisHistory", "realtime.E020")
    for key in ("SSE_HISTORY_SIZE", "SSE_HISTORY_TTL", "SSE_MAX_EVENT_SIZE"):
        if float(user.get(key, DEFAULTS[key])) < 1:
            problems.append(Error(f"REALTIME[{key!r}] must be at least 1.", id="realtime.E022"))
    try:
        re.compile(str(user.get("SSE_TOPIC_PATTERN", DEFAULTS["SSE_TOPIC_PATTERN"])))
    except re.error as exc:
        problems.append(Error(f"REALTIME['SSE_TOPIC_PATTERN'] is not a regular expression: {exc}.", id="realtime.E023"))
    return problems
