"""``python -m django pushapp_ops '<json op>'``: a push-test operation from a process with no server."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from realtime.clients import sender
from tests.pushapp import ops


class Command(BaseCommand):
    help = "Run one tests.pushapp.ops operation (JSON) and print its result as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("op", help='e.g. {"op": "create", "names": ["a"]}')
        parser.add_argument("--skip", help="a connection id the broadcasts skip")

    def handle(self, *args: Any, **options: Any) -> None:
        with sender(options["skip"]):
            self.stdout.write(json.dumps(ops.run(json.loads(options["op"]))))
