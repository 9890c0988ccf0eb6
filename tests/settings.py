"""Minimal settings for the in-process test suite."""

import os

SECRET_KEY = "tests-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "realtime",
    "tests.pushapp",
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    # The machine's PostgreSQL, for the tests that ask for it (databases=["postgres"]); pytest-django creates
    # the test database only then, under a name of this process's own (several suites run at once).
    "postgres": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "HOST": "127.0.0.1",
        "PORT": 5432,
        "USER": "postgres",
        "TEST": {"NAME": f"test_realtime_{os.getpid()}"},
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "tests.urls"
ASGI_APPLICATION = "tests.conformance.asgi.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels.layers.InMemoryChannelLayer",
        # channel_capacity is not compiled by InMemoryChannelLayer (channels 4.3): raise capacity instead.
        "CONFIG": {"capacity": 10000},
    }
}
SIMPLE_JWT = {"SIGNING_KEY": "tests-signing-key-0123456789abcdef0123456789"}
