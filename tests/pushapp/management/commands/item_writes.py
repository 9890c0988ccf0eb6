"""``python -m django item_writes <tag>``: every kind of ORM write to ``conformance_item``, as change capture sees them.

The changes, in commit order (rows named ``<tag>-...``): insert orm; update (save); update orm→upd
(``QuerySet.update``); insert b1, b2 (``bulk_create``); update b1, b2 (``bulk_update``, one statement); a
rolled-back insert (nothing); update b1→b1! (raw SQL); delete b2 (``QuerySet.delete``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from tests.pushapp.models import Item


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Write conformance_item rows every way the ORM can (see the module docstring)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tag")

    def handle(self, *args: Any, **options: Any) -> None:
        tag = options["tag"]
        item = Item.objects.create(name=f"{tag}-orm")
        item.done = True
        item.save()
        Item.objects.filter(name=f"{tag}-orm").update(name=f"{tag}-upd")
        Item.objects.bulk_create([Item(name=f"{tag}-b1"), Item(name=f"{tag}-b2")])
        rows = list(Item.objects.filter(name__in=[f"{tag}-b1", f"{tag}-b2"]).order_by("id"))
        for row in rows:
            row.done = True
        Item.objects.bulk_update(rows, ["done"])
        with contextlib.suppress(Rollback), transaction.atomic():
            Item.objects.create(name=f"{tag}-rolled")
            raise Rollback
        with connection.cursor() as cursor:
            cursor.execute("UPDATE conformance_item SET name = name || '!' WHERE name = %s", [f"{tag}-b1"])
        Item.objects.filter(name=f"{tag}-b2").delete()
