"""What ``manage.py check --deploy`` adds: settings that work in development and fail in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register

from ..conf import DEFAULTS, realtime_settings
from ..links import doc_url
from ..origins import allowed_patterns
from ..permissions import refuses_anonymous
from .hubs import known_hubs


@register(Tags.security, deploy=True)
def check_negotiate_v0(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``check --deploy``: anonymous clients may negotiate version 0, whose token is the public connection id."""

    if int(realtime_settings.MIN_NEGOTIATE_VERSION) >= 1:
        return []
    if any(refuses_anonymous(permission) for permission in realtime_settings.DEFAULT_PERMISSION_CLASSES):
        return []
    return [
        Warning(
            "Anonymous clients may negotiate version 0, whose connection token is the public connection id: "
            "whoever learns the id of an anonymous Server-Sent Events or long-polling connection (from a member "
            "list, say) can send, poll and end it as that connection.",
            hint='Set REALTIME["MIN_NEGOTIATE_VERSION"] = 1 (or min_negotiate_version = 1 on the hubs anonymous '
            "users reach) unless you serve clients that only speak version 0 (signalrcore); the official clients "
            "send version 1.",
            id="realtime.W030",
        )
    ]


# -- check --deploy ------------------------------------------------------------------------------------


def _layer_backend() -> str:
    """The ``BACKEND`` of the channel layer realtime uses ("" when there is none)."""
    user = getattr(settings, "REALTIME", None) or {}
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    return str((layers.get(user.get("CHANNEL_LAYER", DEFAULTS["CHANNEL_LAYER"])) or {}).get("BACKEND", ""))


def _shared_layer() -> bool:
    """Whether the channel layer is shared by several processes (any layer but the in-memory one)."""
    backend = _layer_backend()
    return bool(backend) and not backend.endswith("InMemoryChannelLayer")


def _setting_name(key: str) -> str:
    """The class name that ``REALTIME[key]`` names (an import string or the class itself)."""
    value = (getattr(settings, "REALTIME", None) or {}).get(key, DEFAULTS[key])
    return str(getattr(value, "__name__", value)).rsplit(".", 1)[-1]


@register(deploy=True)
def check_layer_backends(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``check --deploy``: a channel layer that reaches one process, and in-process backends beside a shared
    layer (each process would know only its own connections, presence or topic history)."""

    problems: list[Any] = []
    alias = realtime_settings.CHANNEL_LAYER
    if _layer_backend().endswith("InMemoryChannelLayer") and not settings.DEBUG:
        problems.append(
            Warning(
                f"CHANNEL_LAYERS[{alias!r}] is the in-memory layer and DEBUG is False: it reaches only its own "
                "process, so clients of other server processes, Celery workers and scripts never get its messages.",
                hint="Share channels_redis.pubsub.RedisPubSubChannelLayer between every process "
                f"({doc_url('deployment.md')}); if the site runs in one single server process on purpose, add "
                "'realtime.W031' to SILENCED_SYSTEM_CHECKS.",
                id="realtime.W031",
            )
        )
    if not _shared_layer():
        return problems
    if _setting_name("REGISTRY_BACKEND") == "MemoryRegistry":
        problems.append(
            Warning(
                "REGISTRY_BACKEND is MemoryRegistry while the channel layer is shared by several processes: a "
                "connection negotiated on one process is unknown to the others, so without sticky sessions its "
                "transport request fails (404 No Connection with that ID).",
                hint='Set REALTIME["REGISTRY_BACKEND"] = "realtime.registry.RedisRegistry" (and REDIS_URL).',
                id="realtime.W032",
            )
        )
    if _setting_name("PRESENCE_BACKEND") == "MemoryPresence":
        message = (
            "while the channel layer is shared by several processes, PRESENCE_BACKEND is MemoryPresence: each "
            "process would list and announce only its own connections."
        )
        hint = 'Set REALTIME["PRESENCE_BACKEND"] = "realtime.presence.redis.RedisPresence" (and REDIS_URL).'
        if realtime_settings.TRACK_PRESENCE:
            problems.append(Warning(f'REALTIME["TRACK_PRESENCE"] is on, and {message}', hint=hint, id="realtime.W033"))
        problems.extend(
            Warning(f"{hub.__qualname__} tracks presence, and {message}", hint=hint, obj=hub, id="realtime.W033")
            for hub in known_hubs()
            if vars(hub).get("track_presence")
        )
    if _setting_name("USER_GROUP_BACKEND") == "MemoryUserGroups" and realtime_settings.PUSH_API_KEYS:
        problems.append(
            Warning(
                "USER_GROUP_BACKEND is MemoryUserGroups while the channel layer is shared by several processes: a "
                "user-group membership (the push API's PUT .../users/{user}/groups/{group}) is known only to the "
                "process that made it, so the user's connections that open later on the others do not join.",
                hint='Set REALTIME["USER_GROUP_BACKEND"] = "realtime.user_groups.RedisUserGroups" (and REDIS_URL).',
                id="realtime.W036",
            )
        )
    if _setting_name("SSE_HISTORY_BACKEND") == "MemoryHistory":
        problems.append(
            Warning(
                "SSE_HISTORY_BACKEND is MemoryHistory while the channel layer is shared by several processes: "
                "each process would number its topic events on its own and streams would drop events.",
                hint='Set REALTIME["SSE_HISTORY_BACKEND"] = "realtime.eventstream.history.RedisHistory" '
                "(and REDIS_URL).",
                id="realtime.W021",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def check_detailed_errors(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``check --deploy``: ``DETAILED_ERRORS`` sends exception messages (SQL, paths, secrets) to every client."""
    hint = (
        "Turn it off in production (it is SignalR's EnableDetailedErrors, for development); raise HubError for "
        "the messages clients should read."
    )
    problems: list[Any] = []
    if (getattr(settings, "REALTIME", None) or {}).get("DETAILED_ERRORS"):
        problems.append(
            Warning(
                'REALTIME["DETAILED_ERRORS"] is on: clients get the type and message of every exception raised in '
                "a hub method.",
                hint=hint,
                id="realtime.W034",
            )
        )
    problems.extend(
        Warning(
            f"{hub.__qualname__}.detailed_errors is on: its clients get the type and message of every exception "
            "raised in its methods.",
            hint=hint,
            obj=hub,
            id="realtime.W034",
        )
        for hub in known_hubs()
        if vars(hub).get("detailed_errors")
    )
    return problems


@register(Tags.security, deploy=True)
def check_allowed_origins(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``check --deploy``: an Origin allow-list that refuses every browser."""

    if allowed_patterns():
        return []
    if realtime_settings.ALLOWED_ORIGINS is not None:
        cause = 'REALTIME["ALLOWED_ORIGINS"] is empty'
    else:
        cause = 'REALTIME["ALLOWED_ORIGINS"] is None and ALLOWED_HOSTS is empty'
    return [
        Warning(
            f"{cause}: negotiate, Server-Sent Events and WebSocket upgrades from every browser page are refused "
            "(403 Origin not allowed.); only clients that send no Origin header can connect.",
            hint='List the origins of your pages: REALTIME["ALLOWED_ORIGINS"] = ["https://app.example.com"] '
            '(or host patterns such as ".example.com"), or set ALLOWED_HOSTS.',
            id="realtime.W035",
        )
    ]
