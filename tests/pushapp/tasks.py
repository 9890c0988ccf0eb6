"""Celery tasks that push with the sync API: progress reports, client results, bursts."""

from __future__ import annotations

from typing import Any

from realtime.celery import report_progress
from realtime.context import get_hub_context
from realtime.exceptions import ClientResultError
from tests.conformance.hubs import ChatHub, TestHub

from .celery_app import app


@app.task(bind=True)
def progress(self: Any, user: str, steps: int, connection_id: str | None = None) -> None:
    """Report ``steps`` progress steps to every connection of ``user``, then tell the asking tab it is done."""
    for step in range(1, steps + 1):
        report_progress(ChatHub, self, step * 100 / steps, user_id=user, message=f"step {step}")
    if connection_id:
        report_progress(ChatHub, self, 100, connection_id=connection_id, method="TaskDone")


@app.task
def ask(target: str, reply: str, timeout: float) -> None:
    """Ask connection ``target`` to ``Confirm``; send the outcome to connection ``reply`` as ``Answer``."""
    clients = get_hub_context(TestHub).clients
    try:
        outcome: dict[str, Any] = {"result": clients.client(target).invoke_sync("Confirm", "proceed?", timeout=timeout)}
    except (ClientResultError, TimeoutError) as exc:
        outcome = {"error": f"{type(exc).__name__}: {exc}"}
    clients.client(reply).send("Answer", outcome)


@app.task
def burst(group: str, count: int) -> None:
    """``count`` separate sync pushes to a ChatHub group (each its own short-lived loop)."""
    for index in range(count):
        get_hub_context(ChatHub).clients.group(group).send("Burst", index)
