"""Database change capture on PostgreSQL: every committed insert, update and delete of a registered model,
whatever wrote it (the ORM, ``QuerySet.update()``, bulk operations, raw SQL, ``psql``), sent once, in commit
order, as the event ``broadcast_model`` sends. See change-capture.md in the documentation.

- :func:`capture_model` (``realtime.capture``): register a model, in ``AppConfig.ready()``.
- :class:`~realtime.capture.operations.InstallCapture`: the migration operation that installs the triggers
  (or ``manage.py realtime_capture install``).
- :func:`~realtime.capture.replay.changes_since`: what a subscriber missed after an event id.
"""

from __future__ import annotations

# history: the outbox as the history of captured SSE topics; publisher: started with the process channel
from . import history, publisher  # noqa: F401
from .registration import Capture, capture_model, captures

__all__ = ["Capture", "capture_model", "captures"]
