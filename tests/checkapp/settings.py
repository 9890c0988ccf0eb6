"""The test settings plus ``tests.checkapp`` (``manage.py check`` in a subprocess, tests/unit/test_checks.py)."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.checkapp"]  # noqa: F405
