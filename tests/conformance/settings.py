"""Settings of the conformance server (see shared/conformance.md): driven by real, unmodified clients."""

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "conformance-server-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.conformance.urls"
ASGI_APPLICATION = "tests.conformance.asgi.application"
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "realtime",
    "tests.pushapp",
]
MIDDLEWARE: list[str] = ["realtime.middleware.ConnectionIdMiddleware"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("CONFORMANCE_DB") or str(Path(tempfile.gettempdir()) / "realtime-conformance.sqlite3"),
    }
}
# PostgreSQL instead (and change capture with it): DATABASE_URL=postgresql://postgres@127.0.0.1:5432/some_db, as
# conformance.md names it; CONFORMANCE_DATABASE_URL, which the project's own tests set, wins over it.
_database_url = os.environ.get("CONFORMANCE_DATABASE_URL") or os.environ.get("DATABASE_URL")
if _database_url:
    _url = urlsplit(_database_url)
    if _url.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL: only postgresql:// URLs are supported, not {_url.scheme!r}")
    DATABASES["default"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _url.path.lstrip("/"),
        "USER": _url.username or "",
        "PASSWORD": _url.password or "",
        "HOST": _url.hostname or "",
        "PORT": str(_url.port or ""),
    }
    DATABASES["other"] = {**DATABASES["default"]}  # a second connection: events follow their alias's transaction
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL")
# With REDIS_URL: the pub/sub layer that docs/deployment.md recommends; CHANNEL_LAYER=core for the other one.
if REDIS_URL and os.environ.get("CHANNEL_LAYER", "pubsub") == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_connect_timeout": 5}]},
        }
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "socket_connect_timeout": 5}],
                "capacity": 1000,
                "channel_capacity": {"*!realtime.*": 10000},
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            # channel_capacity is not compiled by InMemoryChannelLayer (channels 4.3): raise capacity instead.
            "CONFIG": {"capacity": 10000},
        }
    }

REALTIME = {
    "USER_ID_PROVIDER": "tests.conformance.hubs.username_id",
    "REGISTRY_TTL": float(os.environ.get("REGISTRY_TTL", "60")),
    "REDIS_URL": REDIS_URL,
    # REGISTRY_BACKEND in the environment wins (tests/multiprocess/test_faults.py: a Redis layer, MemoryRegistry)
    "REGISTRY_BACKEND": os.environ.get("REGISTRY_BACKEND")
    or ("realtime.registry.RedisRegistry" if REDIS_URL else "realtime.registry.MemoryRegistry"),
    "PRESENCE_BACKEND": (
        "realtime.presence.redis.RedisPresence" if REDIS_URL else "realtime.presence.memory.MemoryPresence"
    ),
    "SSE_HISTORY_BACKEND": (
        "realtime.eventstream.history.RedisHistory" if REDIS_URL else "realtime.eventstream.history.MemoryHistory"
    ),
    "USER_GROUP_BACKEND": (
        "realtime.user_groups.RedisUserGroups" if REDIS_URL else "realtime.user_groups.MemoryUserGroups"
    ),
    # The push API's access key (shared/conformance.md); a deployment reads its keys from the environment too.
    "PUSH_API_KEYS": {
        "conformance": os.environ.get("REALTIME_ACCESS_KEY") or "conformance-access-key-0123456789abcdef0123456789"
    },
    "SSE_HEARTBEAT_INTERVAL": float(os.environ.get("SSE_HEARTBEAT_INTERVAL", "15")),
    "SSE_RETRY_MS": int(os.environ.get("SSE_RETRY_MS", "3000")),
    "SSE_HISTORY_SIZE": int(os.environ.get("SSE_HISTORY_SIZE", "1000")),
    # CAPTURE_LISTENER=worker: the servers publish no captured change, `realtime_capture run` does (tests/capture)
    "CAPTURE_LISTENER": os.environ.get("CAPTURE_LISTENER", "process"),
    # STATEFUL_RECONNECT_STORE=1 with REDIS_URL: connections survive their owner (tests/multiprocess)
    "STATEFUL_RECONNECT_STORE": (
        "realtime.resume_store.RedisResumeStore" if REDIS_URL and os.environ.get("STATEFUL_RECONNECT_STORE") else None
    ),
}
# presence timing and layer probes: realtime's defaults unless the environment sets them (tests/multiprocess)
REALTIME.update(
    {
        key: float(os.environ[key])
        for key in ("PRESENCE_TTL", "PRESENCE_LIVENESS_INTERVAL", "PRESENCE_LIVENESS_TTL", "LAYER_CHECK_INTERVAL")
        if key in os.environ
    }
)

SIMPLE_JWT = {"SIGNING_KEY": "conformance-signing-key-0123456789abcdef", "ALGORITHM": "HS256"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "realtime": {
            "handlers": ["console"],
            "level": os.environ.get("REALTIME_LOG_LEVEL", "WARNING"),
            "propagate": False,
        }
    },
}
