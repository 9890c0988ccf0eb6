"""Demo project settings: the embedded default (in-memory channel layer, SQLite)."""

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "demo-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",  # runserver serves ASGI (WebSockets) with daphne
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "realtime",
    "project",  # the demo: users (a data migration), the shared list, the Celery task
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Broadcasts made while handling a request skip the page that sent it (X-Realtime-Connection-Id).
    "realtime.middleware.ConnectionIdMiddleware",
]
ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
# DEMO_DB: another SQLite file (the browser tests give each demo server its own).
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("DEMO_DB", BASE_DIR / "db.sqlite3")}
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]

CHANNEL_LAYERS = {
    # One process. For several, use channels_redis.core.RedisChannelLayer with
    # "hosts": [{"address": REDIS_URL, "socket_timeout": None}], which redis-py 8 needs (docs/deployment.md).
    "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 10000}},
}

REALTIME = {
    # SignalR's defaults; shown here to say where to change them.
    "KEEP_ALIVE_INTERVAL": 15.0,
    "CLIENT_TIMEOUT": 30.0,
    # The activity feed (an SSE topic) keeps its last 50 events for pages that open or reconnect.
    "SSE_HISTORY_SIZE": 50,
    # The push API for other services (/api/hubs/chat/..., asgi.py): its access key comes from the environment;
    # the fallback is for local development only. `manage.py realtime_connection_string --endpoint
    # http://127.0.0.1:8000` prints what an Azure SignalR SDK needs.
    "PUSH_API_KEYS": {"demo": os.environ.get("DEMO_PUSH_KEY") or "demo-push-key-for-local-development-only-0123"},
}

# The JWT login: simplejwt's token views; the hub reads the access token (JWTAuthMiddlewareStack in asgi.py)
# and closes connections whose token expires, so the page refreshes it and reconnects.
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=int(os.environ.get("DEMO_ACCESS_TOKEN_SECONDS", "300"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
}
REST_FRAMEWORK = {"DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]}

# Celery: no broker by default (the report task then runs in a thread of the server, see views.start_report).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL")
