"""Push from Celery tasks (and any worker process without a server): progress reports and the sync API.

The sync API works in tasks as it is: ``get_hub_context(Hub).clients.user(uid).send(...)``,
``...client(cid).invoke_sync(..., timeout=5)``, ``...group(g).send(..., on_commit=True)``. Outside a
server each such call runs in a short-lived event loop and closes its channel-layer connections before
that loop ends, so a worker neither keeps one Redis connection per push nor logs "Event loop is closed".
Nothing here imports Celery::

    @shared_task(bind=True)
    def export(self, user_id: str) -> None:
        for done, total in work():
            report_progress(ShopHub, self, done * 100 / total, user_id=user_id)

In async code (an async view, a hub method, an async task runner) ``await areport_progress(...)`` does the same.

Use the prefork (default) or solo pool for client results: each wait reads the layer from its own loop,
and channels_redis refuses two loops reading at once in one process (the threads pool).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .context import get_hub_context

if TYPE_CHECKING:
    from .clients import ClientProxy, SingleClientProxy
    from .hubs import Hub

__all__ = ["PROGRESS_METHOD", "areport_progress", "progress_message", "report_progress", "task_id_of"]

PROGRESS_METHOD = "TaskProgress"
"""Client method that receives progress reports by default."""


def task_id_of(task: Any) -> str:
    """The id of ``task``: a bound Celery task (``self`` in ``bind=True`` tasks), an ``AsyncResult`` or a str."""
    if isinstance(task, str):
        return task
    request = getattr(task, "request", None)
    found = getattr(request, "id", None) or getattr(task, "id", None)
    if not isinstance(found, str):
        raise TypeError(f"No task id in {task!r}: pass the bound task (bind=True), an AsyncResult or the id.")
    return found


def progress_message(task_id: str, percent: float, message: str = "", **extra: Any) -> dict[str, Any]:
    """``{"taskId", "percent", "done", "message", **extra}``; ``done`` once ``percent`` reaches 100."""
    if not isinstance(percent, int | float) or isinstance(percent, bool) or not math.isfinite(percent):
        raise ValueError(f"percent must be a number from 0 to 100, not {percent!r}.")
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be from 0 to 100, not {percent!r}.")
    return {"taskId": task_id, "percent": percent, "done": percent >= 100, "message": message, **extra}


def report_progress(
    hub: type[Hub] | str,
    task: Any,
    percent: float,
    *,
    user_id: str | None = None,
    connection_id: str | None = None,
    message: str = "",
    method: str = PROGRESS_METHOD,
    **extra: Any,
) -> None:
    """Send :func:`progress_message` to every connection of ``user_id`` (each tab of the user who asked)
    or to one connection (``connection_id``), with the sync API; errors raise here.

    ``task`` is the bound task, an ``AsyncResult`` or a task id; ``extra`` must be serializable.
    """
    target, body = _progress(hub, task, percent, user_id, connection_id, message, extra)
    target.send(method, body)


async def areport_progress(
    hub: type[Hub] | str,
    task: Any,
    percent: float,
    *,
    user_id: str | None = None,
    connection_id: str | None = None,
    message: str = "",
    method: str = PROGRESS_METHOD,
    **extra: Any,
) -> None:
    """Async twin of :func:`report_progress`, for async tasks, async views and hub methods."""
    target, body = _progress(hub, task, percent, user_id, connection_id, message, extra)
    await target.asend(method, body)


def _progress(
    hub: type[Hub] | str,
    task: Any,
    percent: float,
    user_id: str | None,
    connection_id: str | None,
    message: str,
    extra: dict[str, Any],
) -> tuple[ClientProxy | SingleClientProxy, dict[str, Any]]:
    """Who a progress report goes to, and its body; ``ValueError``/``TypeError`` for bad arguments."""
    if (user_id is None) == (connection_id is None):
        raise ValueError("report_progress() needs exactly one of user_id and connection_id.")
    body = progress_message(task_id_of(task), percent, message, **extra)
    clients = get_hub_context(hub).clients
    target = clients.user(str(user_id)) if user_id is not None else clients.client(str(connection_id))
    return target, body
