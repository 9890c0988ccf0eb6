"""Database operations of the push tests, shared by the HTTP view (a server process) and the
``pushapp_ops`` management command (a process with no server): real transactions, rollbacks, bulk paths."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction

from realtime.clients import ClientProxy
from realtime.context import get_hub_context
from realtime.model_events import broadcasters_for

from .apps import HUB
from .models import Order


def orders_group() -> ClientProxy:
    """The hub's ``orders`` group: the pushes below go there, after the commit of their transaction."""
    return get_hub_context(HUB).clients.group("orders")


class Rollback(Exception):
    """Raised inside ``atomic`` to roll it back."""


def _create(names: list[str], hold: float = 0.0) -> list[int]:
    ids = [Order.objects.create(name=name).pk for name in names]
    time.sleep(hold)  # keep the transaction open: nothing may be sent before the commit
    return ids


def run(op: dict[str, Any]) -> dict[str, Any]:
    """Perform ``op`` (``{"op": kind, ...}``) and return ``{"ids": [...]}`` of the rows it kept."""
    kind = op["op"]
    names = list(op.get("names", []))
    ids: list[int] = []
    if kind == "create":  # autocommit, or one atomic block (optionally rolled back)
        if not op.get("atomic"):
            ids = _create(names)
        else:
            with contextlib.suppress(Rollback), transaction.atomic():
                created = _create(names, float(op.get("hold", 0)))
                if op.get("rollback"):
                    raise Rollback
                ids = created
    elif kind == "savepoint":  # outer block commits op["keep"]; a nested savepoint with op["drop"] rolls back
        with transaction.atomic():
            ids = _create([op["keep"]])
            with contextlib.suppress(Rollback), transaction.atomic():
                _create([op["drop"]])
                raise Rollback
    elif kind == "aliases":  # two connections to the database, each with its own transaction
        with contextlib.suppress(Rollback), transaction.atomic():  # "default" rolls back...
            Order.objects.create(name=op["drop"])
            with transaction.atomic(using="other"):  # ...after "other" committed, and sent its events
                ids = [Order.objects.using("other").create(name=op["keep"]).pk]
                orders_group().send("Note", op["keep"], on_commit=True, using="other")
            raise Rollback
        with transaction.atomic():  # "default" commits; "other" rolls back inside it
            ids += _create([op["keep_default"]])
            orders_group().send("Note", op["keep_default"], on_commit=True)
            with contextlib.suppress(Rollback), transaction.atomic(using="other"):
                Order.objects.using("other").create(name=op["drop_other"])
                orders_group().send("Note", op["drop_other"], on_commit=True, using="other")
                raise Rollback
    elif kind == "update":
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=op["id"])
            order.status = op["status"]
            order.save()
        ids = [order.pk]
    elif kind == "bulk_create":  # no post_save: the explicit broadcast (if asked) sends the events
        with transaction.atomic():
            orders = Order.objects.bulk_create([Order(name=name) for name in names])
            if op.get("broadcast"):
                broadcasters_for(Order)[0].broadcast(orders, "created")
        ids = [order.pk for order in orders]
    elif kind == "bulk_update":  # QuerySet.update() sends no signal either
        with transaction.atomic():
            Order.objects.filter(pk__in=op["ids"]).update(status=op["status"])
            broadcasters_for(Order)[0].broadcast(Order.objects.filter(pk__in=op["ids"]).order_by("pk"), "updated")
        ids = list(op["ids"])
    elif kind == "delete":  # QuerySet.delete() sends post_delete for each row once a receiver is connected
        Order.objects.filter(pk__in=op["ids"]).delete()
    elif kind == "announce":
        groups = get_hub_context(HUB).clients.groups(op.get("groups", ["orders"]))
        groups.send("Announcement", op["text"], on_commit=True)
    else:
        raise ValueError(f"unknown op {kind!r}")
    return {"ids": ids}


async def _note_and_update(ids: list[int], names: list[str]) -> None:
    """Async helpers of a transaction: the model broadcaster's async twin (a queryset) and ``asend(on_commit=True)``."""
    await broadcasters_for(Order)[0].abroadcast(Order.objects.filter(pk__in=ids).order_by("pk"), "updated")
    for name in names:
        await orders_group().asend("Note", name, on_commit=True)


def _atomic_with_async_pushes(names: list[str], rollback: bool, hold: float) -> list[int]:
    """A transaction that calls async code (``async_to_sync``) which pushes: sent after its commit."""
    with contextlib.suppress(Rollback), transaction.atomic():
        ids = [Order.objects.create(name=name).pk for name in names]
        async_to_sync(_note_and_update)(ids, names)
        time.sleep(hold)  # keep the transaction open: nothing may be sent before the commit
        if rollback:
            raise Rollback
        return ids
    return []


async def arun(op: dict[str, Any]) -> dict[str, Any]:
    """The async view's operations: ``note`` (``asend(on_commit=True)`` from async code, in autocommit) and ``atomic``
    (a transaction in a worker thread whose async helpers push)."""
    kind = op["op"]
    if kind == "note":
        await orders_group().asend("Note", op["text"], on_commit=True)
        return {"ids": []}
    if kind == "atomic":
        rollback, hold = bool(op.get("rollback")), float(op.get("hold", 0))
        return {"ids": await sync_to_async(_atomic_with_async_pushes)(list(op["names"]), rollback, hold)}
    raise ValueError(f"unknown async op {kind!r}")
