"""Settings of the "realistic app" row of the idle-memory goal: the bench settings plus what a real site has.

Django's auth, contenttypes and sessions apps and their HTTP middleware, and the hub's routes wrapped in
the README's ``JWTAuthMiddlewareStack`` (``bench.realistic``), so every connection carries a session and a
user; presence stays off (``TRACK_PRESENCE`` is ``False``, the default, said here to be seen).
"""

from bench.settings import *  # noqa: F403

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "realtime",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "bench.realistic"
# Connections without a session cookie never query the session table, so an in-memory database will do.
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ASGI_APPLICATION = "bench.realistic.application"
REALTIME = {"TRACK_PRESENCE": False}
