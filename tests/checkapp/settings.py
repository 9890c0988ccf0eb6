"""The test settings plus the installed app ``tests.checkapp``, and ``tests.checkapp.site`` as the project package
(``manage.py check`` in a subprocess, tests/unit/test_checks.py). The checks do not import ASGI_APPLICATION."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.checkapp"]  # noqa: F405
ASGI_APPLICATION = "tests.checkapp.site.asgi.application"
