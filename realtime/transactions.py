"""Sending after the commit: what ``send(..., on_commit=True)`` and model events wait for.

Inside ``transaction.atomic`` a push waits for the commit and is dropped by a rollback (savepoints
included); in autocommit it goes at once. Sync code looks at the atomic block open in its own thread.
Async code looks where its context's sync code runs (the thread of its ``sync_to_async`` calls and of
Django's async ORM methods): async code called through ``async_to_sync`` inside an atomic block waits for
that block's commit; in an async view or a hub method no block is open there, so it sends at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.transaction import TransactionManagementError

logger = logging.getLogger("realtime.push")


def after_commit(send: Callable[[], None], using: str | None, what: str) -> bool:
    """Call ``send`` after the commit of the atomic block open on database ``using`` in this thread: ``True``.

    ``False`` in autocommit: the caller sends now. A failure of the deferred ``send`` is logged (no caller is
    left to raise to). Raises ``TransactionManagementError`` in manual transaction management, where no
    commit can be awaited.
    """
    alias = using or DEFAULT_DB_ALIAS
    connection = transaction.get_connection(alias)
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _logged(send, what), using=alias, robust=True)
        return True
    if connection.connection is not None and not connection.autocommit:  # set_autocommit(False): no hook
        raise TransactionManagementError(
            f"Cannot send {what} after the commit: database {alias!r} is in manual transaction management; "
            "write inside transaction.atomic(), or send after commit()."
        )
    return False


async def aafter_commit(send: Callable[[], None], using: str | None, what: str) -> bool:
    """:func:`after_commit` from async code: it looks at the thread where this context's sync code runs."""
    return await sync_to_async(after_commit)(send, using, what)


def _logged(send: Callable[[], None], what: str) -> None:
    try:
        send()
    except Exception:
        logger.exception("Could not send %s after the commit", what)
