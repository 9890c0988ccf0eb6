"""The Celery app of the push tests: ``celery -A tests.pushapp.celery_app worker``.

Broker: database 1 of ``REDIS_URL`` (the test's private Redis; the channel layer uses database 0).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.conformance.settings")

import django  # noqa: E402
from django.apps import apps  # noqa: E402

if not apps.ready:
    django.setup()

from celery import Celery  # noqa: E402


def broker_url() -> str:
    """``REDIS_URL`` with database 1."""
    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    return f"{base}/1"


app = Celery("pushapp", include=["tests.pushapp.tasks"])
app.conf.update(
    broker_url=broker_url(),
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
)
