"""Django system checks for ``realtime`` configuration (ids ``realtime.E0xx`` / ``realtime.W0xx``)."""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from .conf import DEFAULTS, RENAMED
from .links import doc_url

if TYPE_CHECKING:
    from .hubs import Hub

HUBS_MODULE = "hubs"
"""The module of each installed app that the checks import to find its hubs (as the admin does ``admin``)."""


@register()
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """A channel layer must exist: hubs route everything through it."""
    from .conf import realtime_settings

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
    """redis-py 8 times out idle ``RedisChannelLayer`` consumers after 5 s unless ``socket_timeout`` is set."""
    if not str(config.get("BACKEND", "")).endswith("core.RedisChannelLayer"):
        return []
    try:
        import redis
    except ImportError:
        return []
    if int(redis.__version__.split(".")[0]) < 8:
        return []
    hosts = (config.get("CONFIG") or {}).get("hosts") or []
    if hosts and all(isinstance(h, dict) and "socket_timeout" in h for h in hosts):
        return []
    return [
        Warning(
            f"redis-py {redis.__version__} drops idle RedisChannelLayer consumers after 5 s.",
            hint='Give every host a socket timeout: "hosts": [{"address": REDIS_URL, "socket_timeout": None}], '
            'or pin "redis<8".',
            id="realtime.W003",
        )
    ]


@register()
def check_asgi_application(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Hubs need an ASGI server: ``ASGI_APPLICATION`` must name the app that routes them."""
    if not getattr(settings, "ASGI_APPLICATION", None):
        return [
            Error(
                "ASGI_APPLICATION is not set; hubs are served only by an ASGI application.",
                hint='Set ASGI_APPLICATION = "yourproject.asgi.application" and route hubs there '
                "with realtime.routing.hub_routes().",
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
    backend = user.get("PRESENCE_BACKEND", DEFAULTS["PRESENCE_BACKEND"])
    if str(getattr(backend, "__name__", backend)).endswith("RedisPresence") and not user.get("REDIS_URL"):
        problems.append(
            Error(
                "PRESENCE_BACKEND is RedisPresence but REDIS_URL is not set.",
                hint='Set REALTIME["REDIS_URL"] = "redis://127.0.0.1:6379/0" (the Redis every process shares).',
                id="realtime.E006",
            )
        )
    registry = user.get("REGISTRY_BACKEND", DEFAULTS["REGISTRY_BACKEND"])
    if str(getattr(registry, "__name__", registry)).endswith("RedisRegistry") and not user.get("REDIS_URL"):
        problems.append(
            Error(
                "REGISTRY_BACKEND is RedisRegistry but REDIS_URL is not set: every negotiate would fail.",
                hint='Set REALTIME["REDIS_URL"] = "redis://127.0.0.1:6379/0" (the Redis every process shares).',
                id="realtime.E010",
            )
        )
    if float(user.get("PRESENCE_TTL", DEFAULTS["PRESENCE_TTL"])) <= 0:
        problems.append(Error("PRESENCE_TTL must be a positive number of seconds.", id="realtime.E007"))
    return problems + _check_presence_liveness(user)


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


@register()
def check_sse(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """SSE topic settings: the history backend, its sizes and the topic pattern (``realtime.eventstream``)."""
    import re

    user = getattr(settings, "REALTIME", None) or {}
    problems: list[Any] = []
    backend = str(user.get("SSE_HISTORY_BACKEND", DEFAULTS["SSE_HISTORY_BACKEND"]))
    if backend.endswith("RedisHistory") and not user.get("REDIS_URL"):
        problems.append(
            Error(
                "SSE_HISTORY_BACKEND is RedisHistory but REDIS_URL is not set.",
                hint='Set REALTIME["REDIS_URL"] = "redis://127.0.0.1:6379/0" (the Redis every process shares).',
                id="realtime.E020",
            )
        )
    for key in ("SSE_HISTORY_SIZE", "SSE_HISTORY_TTL", "SSE_MAX_EVENT_SIZE"):
        if float(user.get(key, DEFAULTS[key])) < 1:
            problems.append(Error(f"REALTIME[{key!r}] must be at least 1.", id="realtime.E022"))
    try:
        re.compile(str(user.get("SSE_TOPIC_PATTERN", DEFAULTS["SSE_TOPIC_PATTERN"])))
    except re.error as exc:
        problems.append(Error(f"REALTIME['SSE_TOPIC_PATTERN'] is not a regular expression: {exc}.", id="realtime.E023"))
    return problems


@register(Tags.security, deploy=True)
def check_negotiate_v0(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``check --deploy``: anonymous clients may negotiate version 0, whose token is the public connection id."""
    from .conf import realtime_settings
    from .permissions import refuses_anonymous

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


# -- hubs ----------------------------------------------------------------------------------------------


def known_hubs() -> list[type[Hub]]:
    """Every ``Hub`` subclass, after importing the ``hubs`` module of each installed app and of the project package
    (the one ``ASGI_APPLICATION`` lives in, e.g. ``mysite/hubs.py``).

    Hubs are usually imported only by the ASGI routing, which ``manage.py check`` does not import: keep them in
    such a ``hubs`` module (or import them from there) so the checks see them.
    """
    from django.utils.module_loading import autodiscover_modules

    from .hubs import Hub

    autodiscover_modules(HUBS_MODULE)
    project = str(getattr(settings, "ASGI_APPLICATION", None) or "").rpartition(".")[0].rpartition(".")[0]
    if project:
        try:
            present = importlib.util.find_spec(f"{project}.{HUBS_MODULE}") is not None
        except (ImportError, ValueError):  # no such package: E002 and the server say what is wrong
            present = False
        if present:
            importlib.import_module(f"{project}.{HUBS_MODULE}")
    found: list[type[Hub]] = []
    pending = list(Hub.__subclasses__())
    while pending:
        hub = pending.pop()
        if hub not in found:
            found.append(hub)
            pending.extend(hub.__subclasses__())
    return sorted(found, key=lambda hub: hub.hub_name())


@register()
def check_hub_methods(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Hub methods that clients will not reach: a public plain ``def``, two methods under one wire name, and
    wire names that differ only in case (clients are often written with the other case)."""
    return [problem for hub in known_hubs() for problem in _hub_method_problems(hub)]


def _hub_method_problems(hub: type[Hub]) -> list[Any]:
    """The W040-W042 warnings of ``hub``; each problem is reported on the class where it first appears."""
    from .hubs import Hub, exposers, is_unexposed_function

    problems = [
        Warning(
            f"{hub.__qualname__}.{attr} is a public plain def: clients cannot call it (they get "
            f"\"Unknown hub method '{attr}'\").",
            hint="Make it async def, decorate it with @hub_method (it then runs in a worker thread), "
            f"or call it _{attr} if it is a helper.",
            obj=hub,
            id="realtime.W040",
        )
        for attr, value in vars(hub).items()
        if is_unexposed_function(attr, value)
    ]
    bases = [base for base in hub.__bases__ if issubclass(base, Hub)]
    inherited = [exposers(base) for base in bases]
    for name, methods in exposers(hub).items():
        if len(methods) > 1 and not any(sorted(seen.get(name, [])) == sorted(methods) for seen in inherited):
            reached = hub.hub_methods.get(name)
            problems.append(
                Warning(
                    f"{hub.__qualname__}: {', '.join(sorted(methods))} are all exposed as {name!r}; clients reach "
                    f"only {reached.func.__qualname__ if reached else 'one of them'}.",
                    hint="Rename one with @hub_method(name=...), or give the method meant to replace the other the "
                    "same Python name, so that it overrides it.",
                    obj=hub,
                    id="realtime.W041",
                )
            )
    folded: dict[str, list[str]] = {}
    for name in hub.hub_methods:
        folded.setdefault(name.casefold(), []).append(name)
    for names in folded.values():
        if len(names) > 1 and not any(set(names) <= set(base.hub_methods) for base in bases):
            problems.append(
                Warning(
                    f"{hub.__qualname__} exposes {' and '.join(repr(n) for n in sorted(names))}, which differ only in "
                    "case: names match case-sensitively, so a client written with the other case calls the other "
                    "method.",
                    hint="Give them names that differ by more than case.",
                    obj=hub,
                    id="realtime.W042",
                )
            )
    return problems


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
    from .conf import realtime_settings

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
    from .conf import realtime_settings
    from .origins import allowed_patterns

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
