"""``python manage.py realtime_send <HubPath> <method> [json-arg ...] --group G``: push from a shell or cron."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime import sync
from realtime.conf import realtime_settings
from realtime.context import get_hub_context
from realtime.exceptions import BroadcastError


class Command(BaseCommand):
    help = (
        "Call a client method on connections of a hub, from a process with no server (any process that "
        "shares the channel layer). Arguments are JSON values: '\"text\"', 42, '{\"a\": 1}'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("hub", help="import path of the hub class, e.g. chat.hubs.ChatHub")
        parser.add_argument("method", help="the client method, e.g. ReceiveMessage")
        parser.add_argument("arguments", nargs="*", metavar="arg", help="arguments, each a JSON value")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--all", action="store_true", help="every connection of the hub")
        target.add_argument("--group", action="append", help="members of a group (repeatable)")
        target.add_argument("--user", action="append", help="connections of a user id (repeatable)")
        target.add_argument("--connection", action="append", help="one connection id (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            clients = get_hub_context(options["hub"]).clients
        except (ImproperlyConfigured, TypeError) as exc:
            raise CommandError(str(exc)) from exc
        alias = realtime_settings.CHANNEL_LAYER
        backend = getattr(settings, "CHANNEL_LAYERS", {}).get(alias, {}).get("BACKEND", "")
        if backend.endswith(".InMemoryChannelLayer") and sync.uses_private_loop():
            raise CommandError(
                f"CHANNEL_LAYERS[{alias!r}] is the in-memory layer, which reaches only its own process, and no "
                "server runs in this one: nobody would get the message. Configure a channels_redis layer "
                "shared with the servers."
            )
        values = []
        for index, text in enumerate(options["arguments"], 1):
            try:
                values.append(json.loads(text))
            except ValueError as exc:
                raise CommandError(f"Argument {index} is not JSON ({exc}): quote strings, e.g. '\"{text}\"'.") from exc
        if options["all"]:
            target, where = clients.all, "every connection"
        elif options["group"]:
            target, where = clients.groups(options["group"]), f"groups {options['group']}"
        elif options["user"]:
            target, where = clients.users(options["user"]), f"users {options['user']}"
        else:
            target, where = clients.clients(options["connection"]), f"connections {options['connection']}"
        try:
            target.send(options["method"], *values)
        except Exception as exc:
            cause = exc.__cause__ if isinstance(exc, BroadcastError) and exc.__cause__ else exc  # the layer's error
            method = options["method"]
            raise CommandError(f"Could not send {method!r} to {where}: {type(cause).__name__}: {cause}") from exc
        if options["verbosity"] > 0:
            self.stdout.write(f"Sent {options['method']!r} to {where}.")
