"""The demo's Celery app. With CELERY_BROKER_URL set, run a worker: ``celery -A project worker``.

Without a broker (the default: ``scripts/demo`` needs no Redis) the view runs the task in a thread of the
server process instead (``views.start_report``).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
