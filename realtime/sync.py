"""Sync code calling the async API: views, signal receivers, Celery tasks, management commands, scripts.

``run_sync`` decides where the coroutine runs. In a server process it runs on a running loop: the one whose
``sync_to_async`` worker this thread is, else the process channel's, so it opens no Redis clients or
layer pools of its own. Outside a server (Celery workers, management commands, scripts, WSGI servers) each
call runs in a short-lived event loop whose channel layer connections are closed before it ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import InMemoryChannelLayer

from . import lifetime, links
from .conf import realtime_settings

logger = logging.getLogger("realtime.push")


def sync_call_loop() -> str:
    """Where a sync call from this thread (no loop runs here) runs its coroutine.

    ``"caller"``: this thread is a ``sync_to_async`` worker of a running loop (a sync view under an ASGI
    server), and ``async_to_sync`` goes back to that loop. ``"home"``: another thread of a process whose
    channel runs (``asyncio.to_thread``, a thread pool of a server process): the call runs on the channel's
    loop. ``"private"``: a short-lived loop of its own (Celery workers, management commands, scripts).
    """
    local = SyncToAsync.threadlocal  # what async_to_sync itself reads to find the loop it would run on
    caller = getattr(local, "main_event_loop", None)
    if (
        caller is not None
        and getattr(local, "main_event_loop_pid", None) == os.getpid()
        and caller.is_running()
        and not caller.is_closed()
    ):
        return "caller"
    return "home" if lifetime.home_loop() is not None else "private"


def uses_private_loop() -> bool:
    """Whether a sync call from this thread gets a short-lived event loop of its own (:func:`sync_call_loop`)."""
    return sync_call_loop() == "private"


def refuse_in_loop(sync_api: str, async_twin: str) -> None:
    """Raise ``RuntimeError`` naming ``async_twin`` when a sync API is called inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{sync_api}() is the sync API and cannot run inside an event loop: use 'await ...{async_twin}(...)' instead."
    )


def run_sync(coroutine_function: Callable[..., Coroutine[Any, Any, Any]], *args: Any, **kwargs: Any) -> Any:
    """Run an async API from sync code and return its result; refuses inside a running event loop, naming
    the async twin (``send`` → ``asend``, ``invoke_sync`` → ``invoke``)."""
    name = coroutine_function.__name__
    sync_name = name[1:] if name.startswith("a") else f"{name}_sync"
    refuse_in_loop(f"{coroutine_function.__qualname__.rpartition('.')[0]}.{sync_name}", name)
    where = sync_call_loop()
    if where == "caller":
        return async_to_sync(coroutine_function)(*args, **kwargs)
    home = lifetime.home_loop()
    if where == "home" and home is not None:
        # call_soon_threadsafe creates the task in a copy of this thread's context: context vars follow
        return asyncio.run_coroutine_threadsafe(coroutine_function(*args, **kwargs), home).result()
    warn_if_isolated()

    async def in_own_layer() -> Any:
        async with lifetime.own_layer():
            return await coroutine_function(*args, **kwargs)

    return async_to_sync(in_own_layer, force_new_loop=True)()


_warned_isolated = False


def warn_if_isolated() -> None:
    """Log once when a push from outside a server goes to the in-memory layer, which reaches no server.

    A Celery worker, a script or a WSGI process on ``InMemoryChannelLayer`` pushes into a layer that only
    its own process reads: every recipient is in another process, so nobody gets the message.
    """
    global _warned_isolated
    if not _warned_isolated and isinstance(lifetime.layer(), InMemoryChannelLayer):
        _warned_isolated = True
        logger.warning(
            "realtime: a push from a process that runs no server (a Celery worker, a script, a WSGI server) "
            "went to CHANNEL_LAYERS[%r], the in-memory layer, which reaches only this process: no client gets "
            "it. Share a channels_redis layer with the servers (%s).",
            realtime_settings.CHANNEL_LAYER,
            links.doc_url("deployment.md"),
        )
