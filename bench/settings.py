"""Settings of the benchmark server: one ASGI app serving the hub and the raw Channels baselines.

No database, no auth middleware, no sessions: both sides do the same work on the same wire bytes.
``REALTIME_LOG_LEVEL`` (default ``WARNING``) sets the level of the ``realtime`` loggers, for looking into a run.
"""

import os

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels", "realtime"]
MIDDLEWARE: list[str] = []
ASGI_APPLICATION = "bench.asgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# InMemoryChannelLayer has no per-channel ``channel_capacity`` in channels 4.3: raise the capacity of every
# channel so neither side drops group messages while the client drains them.
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 100000}}}

# The hub runs with its defaults (SignalR's keep-alive 15 s / client timeout 30 s); the bench client sends a
# Ping every 10 s on every connection, as the JS client does every 15 s.
REALTIME: dict[str, object] = {}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"timed": {"format": "%(created).3f %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "timed"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"realtime": {"level": os.environ.get("REALTIME_LOG_LEVEL", "WARNING")}},
}
