"""Client results (protocol.md §8): the server invokes a client method and waits for its Completion."""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

from .exceptions import ClientResultError
from .protocol.messages import CompletionMessage, InvocationMessage

if TYPE_CHECKING:
    from .connection import HubConnection

_ids = itertools.count(1)


class PendingResults:
    """The client results one connection waits for, by invocation id (created with the first)."""

    __slots__ = ("_futures",)

    def __init__(self) -> None:
        self._futures: dict[str, asyncio.Future[Any]] = {}

    def __len__(self) -> int:
        return len(self._futures)

    async def invoke(self, connection: HubConnection, target: str, arguments: list[Any], timeout: float) -> Any:
        """Send the Invocation and wait for its Completion: the result, or ``ClientResultError`` with the client's
        error text; ``TimeoutError`` after ``timeout``."""
        invocation_id = f"s{next(_ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._futures[invocation_id] = future
        try:
            await connection.send(InvocationMessage(target=target, arguments=arguments, invocation_id=invocation_id))
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._futures.pop(invocation_id, None)

    def resolve(self, message: CompletionMessage) -> bool:
        """Complete the result ``message`` answers; ``False`` when it answers none."""
        future = self._futures.pop(message.invocation_id, None)
        if future is None or future.done():
            return False
        if message.error is not None:
            future.set_exception(ClientResultError(message.error))
        else:
            future.set_result(message.result)
        return True

    def fail_all(self) -> None:
        """The connection closed: every result still awaited fails."""
        for future in self._futures.values():
            if not future.done():
                future.set_exception(ClientResultError("Connection closed before the client answered."))
        self._futures.clear()
