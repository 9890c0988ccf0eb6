"""``python manage.py realtime_capture install|remove|status|run``: the change-capture triggers and worker."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from realtime.capture import sql
from realtime.capture.operations import install, remove
from realtime.capture.publisher import Publisher
from realtime.capture.registration import captures
from realtime.conf import realtime_settings


async def _publish_until_stopped(alias: str) -> None:
    """Run a publisher until SIGINT or SIGTERM. Own handlers: a process started in the background of a
    non-interactive shell inherits SIGINT ignored (Python then never raises KeyboardInterrupt), and service
    managers stop with SIGTERM."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for stop in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await Publisher(alias).run()


class Command(BaseCommand):
    help = (
        "Change capture on PostgreSQL. install / remove: the triggers of the captured models' tables (all "
        "registered ones, or those named app_label.Model); status: the installed tables and the positions; "
        "run: publish changes from this process (with REALTIME['CAPTURE_LISTENER'] = 'worker' servers do not)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["install", "remove", "status", "run"])
        parser.add_argument("models", nargs="*", help="app_label.Model (default: every captured model)")
        parser.add_argument("--database", default=None, help="database alias (default: CAPTURE_DATABASE)")

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"] or realtime_settings.CAPTURE_DATABASE
        connection = connections[alias]
        if connection.vendor != "postgresql":
            raise CommandError(f"Change capture needs PostgreSQL; database {alias!r} is {connection.vendor}.")
        action = options["action"]
        if action == "run":
            self.stdout.write(f"realtime capture: publishing the changes of database {alias!r} (Ctrl-C stops)")
            asyncio.run(_publish_until_stopped(alias))
            return
        if action == "status":
            self._status(connection)
            return
        tables = self._tables(options["models"])
        with connection.schema_editor() as editor:
            for table in tables:
                (install if action == "install" else remove)(editor, table)
                self.stdout.write(f"{action}ed capture of {table}")

    def _tables(self, labels: list[str]) -> list[str]:
        from django.apps import apps

        if not labels:
            found = sorted({capture.table for capture in captures()})
            if not found:
                raise CommandError("No model is captured: call capture_model() in AppConfig.ready(), or name one.")
            return found
        try:
            return [apps.get_model(label)._meta.db_table for label in labels]
        except (LookupError, ValueError) as exc:
            raise CommandError(str(exc)) from exc

    def _status(self, connection: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql.INSTALLED)
            found = cursor.fetchall()
            tables = [table for table, _truncate in found]
            self.stdout.write("captured tables: " + (", ".join(tables) or "none"))
            older = [table for table, truncate in found if not truncate]
            if older:
                self.stdout.write(self.style.WARNING(f"TRUNCATE not captured (run install again): {', '.join(older)}"))
            if tables:
                cursor.execute(sql.STATE)
                published, pruned = cursor.fetchone()
                cursor.execute(sql.LAST_EVENT)
                self.stdout.write(f"newest event {cursor.fetchone()[0]}, published {published}, pruned {pruned}")
        missing = sorted({c.table for c in captures()} - set(tables))
        if missing:
            self.stdout.write(self.style.WARNING(f"registered but not installed: {', '.join(missing)}"))
