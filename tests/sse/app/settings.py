"""Settings of the SSE test server: the conformance server's, plus sessions and the views of ``urls.py``."""

from tests.conformance.settings import *  # noqa: F403
from tests.conformance.settings import MIDDLEWARE

ROOT_URLCONF = "tests.sse.app.urls"
MIDDLEWARE = [
    *MIDDLEWARE,
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
