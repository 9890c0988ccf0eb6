"""Settings of the push API bench server: ``bench.settings`` plus an access key (bench only, not secret)."""

from bench.settings import *  # noqa: F403

ASGI_APPLICATION = "bench.push_api_app.application"
PUSH_KEY = "bench-push-key-not-secret-0123456789abcdef"
REALTIME = {"PUSH_API_KEYS": {"bench": PUSH_KEY}}
