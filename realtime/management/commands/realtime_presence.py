"""``python manage.py realtime_presence <HubPath> [group]``: who is connected to a hub, and where."""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from realtime.hubs import Hub
from realtime.presence import HubPresence, PresenceEntry, PresenceError


class Command(BaseCommand):
    help = (
        "Show the presence of a hub that tracks it: its groups with member counts, or (with a group) the "
        "members of that group by user. Reads the configured PRESENCE_BACKEND (Redis: every process)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("hub", help="import path of the hub class, e.g. chat.hubs.ChatHub")
        parser.add_argument("group", nargs="?", help="a group of the hub: list its members")
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            hub = import_string(options["hub"])
        except ImportError as exc:
            raise CommandError(f"Cannot import hub {options['hub']!r}: {exc}") from exc
        if not (isinstance(hub, type) and issubclass(hub, Hub)):
            raise CommandError(f"{options['hub']!r} is not a Hub subclass.")
        presence = HubPresence(hub)
        try:
            if options["group"] is None:
                self._summary(presence, as_json=options["json"])
            else:
                self._members(presence, options["group"], as_json=options["json"])
        except PresenceError as exc:
            raise CommandError(str(exc)) from exc

    def _summary(self, presence: HubPresence, *, as_json: bool) -> None:
        connections = presence.count_sync()
        groups = presence.groups_sync()
        if as_json:
            self.stdout.write(json.dumps({"connections": connections, "groups": groups}))
            return
        self.stdout.write(f"{presence.hub.hub_name()}: {connections} connection(s), {len(groups)} group(s)")
        for name, count in groups.items():
            self.stdout.write(f"  {name}\t{count}")

    def _members(self, presence: HubPresence, group: str, *, as_json: bool) -> None:
        users = presence.users_sync(group)
        if as_json:
            data = [{"user": user.user_id, "connections": [_entry(e) for e in user.entries]} for user in users]
            self.stdout.write(json.dumps({"group": group, "users": data}))
            return
        total = sum(len(user.entries) for user in users)
        self.stdout.write(f"{group}: {total} connection(s), {len(users)} user(s)")
        for user in users:
            self.stdout.write(f"  {user.user_id if user.user_id is not None else '(anonymous)'}")
            for entry in user.entries:
                item = _entry(entry)
                metadata = f"\t{json.dumps(entry.metadata)}" if entry.metadata else ""
                self.stdout.write(f"    {item['connectionId']}\tsince {item['connectedAt']}{metadata}")


def _entry(entry: PresenceEntry) -> dict[str, Any]:
    connected = datetime.datetime.fromtimestamp(entry.connected_at, tz=datetime.UTC).isoformat(timespec="seconds")
    return {"connectionId": entry.connection_id, "connectedAt": connected, "metadata": entry.metadata}
