"""``python manage.py realtime_connection_string [--key NAME] [--endpoint URL]``: what Azure SignalR SDKs need."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime.conf import realtime_settings
from realtime.push_api.keys import access_keys, connection_string


class Command(BaseCommand):
    help = (
        "Print the connection string of the push API (Endpoint=...;AccessKey=...;Version=1.0;) for Azure "
        "SignalR's SDKs and REST clients, with a key of REALTIME['PUSH_API_KEYS']. It holds the key: treat it "
        "as a secret."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--key", help="the key's name in PUSH_API_KEYS (default: the only, or the first, key)")
        parser.add_argument(
            "--endpoint", help="scheme, host and port the callers reach, e.g. https://push.example.com "
            "(default: REALTIME['PUSH_API_ENDPOINT'])"
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        keys = access_keys()
        if not keys:
            raise CommandError("REALTIME['PUSH_API_KEYS'] names no access key.")
        name = options["key"]
        chosen = next((key for key in keys if key.name == name), None) if name else keys[0]
        if chosen is None:
            raise CommandError(f"No key {name!r} in PUSH_API_KEYS; there are: {', '.join(k.name for k in keys)}.")
        endpoint = options["endpoint"] or realtime_settings.PUSH_API_ENDPOINT
        if not endpoint or "://" not in str(endpoint):
            raise CommandError("Give --endpoint https://host[:port] or set REALTIME['PUSH_API_ENDPOINT'].")
        self.stdout.write(connection_string(str(endpoint), chosen.secret))
