"""Hub method calls of one connection: admitting them, running them, answering them.

Theory of operation
-------------------
The dispatcher hands every Invocation and StreamInvocation to :meth:`Invocations.admit` on the receive path.
It is resolved and bound there, and a refusal is answered at once, without a task. What is admitted becomes
its own task. A plain invocation waits for one of the connection's slots (``realtime.slots``): while
``MAX_QUEUED_INVOCATIONS`` already wait, ``admit`` itself waits, which stops the transport's reading (or
closes the connection where the server cannot be paused). Server streams and methods with upload streams
take no slot; ``MAX_STREAMS`` and ``MAX_UPLOAD_STREAMS`` bound them instead. Each call goes through the
hub's permission classes and filters; its outcome becomes a Completion (or stream items), with the error
texts of protocol.md §7.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied

from .conf import hub_option
from .connection import HubConnection, State, current_invocation
from .eager import start_task
from .exceptions import HubError, LimitExceeded
from .filters import InvocationContext, chain, hub_filters
from .methods import ArgumentError, HubMethod
from .permissions import ConnectionRequest, allowed
from .protocol import errors
from .protocol.messages import CompletionMessage, InvocationMessage, StreamInvocationMessage, StreamItemMessage
from .slots import InvocationSlots, Slot
from .streams import ServerStream, StreamTracker, UploadStream

if TYPE_CHECKING:
    from .hubs import Hub

logger = logging.getLogger("realtime.dispatcher")

UNKNOWN_LOGGED_PER_HUB = 100
"""Unknown method names logged per hub; a client that calls ever new names cannot fill the log or the memory."""
SHOWN_NAME_LENGTH = 100
"""Characters of an unknown method name that are logged (and remembered)."""
_unknown_logged: dict[str, set[str]] = {}


def log_unknown_method(hub: type[Hub], target: str) -> None:
    """Tell the server log, once per hub and name, that a client called a name ``hub`` does not expose, and what
    was probably meant. The client only gets ``Unknown hub method 'X'`` (protocol contract)."""
    shown = target if len(target) <= SHOWN_NAME_LENGTH else target[:SHOWN_NAME_LENGTH] + "..."
    seen = _unknown_logged.setdefault(hub.hub_name(), set())
    if shown in seen or len(seen) > UNKNOWN_LOGGED_PER_HUB:
        return
    seen.add(shown)
    if len(seen) > UNKNOWN_LOGGED_PER_HUB:
        logger.warning("realtime: %s: clients called more unknown method names; no more are logged", hub.hub_name())
        return
    hint = hub.unknown_method_hint(target) if len(target) <= SHOWN_NAME_LENGTH else "no hub method has so long a name"
    logger.warning("realtime: a client called %r, which is not a hub method of %s: %s.", shown, hub.hub_name(), hint)


class Invocations:
    """The hub method calls of one :class:`HubConnection`: slots, upload and server streams, tasks."""

    __slots__ = (
        "connection",
        "hub",
        "detailed_errors",
        "filters",
        "_uploads",
        "max_streams",
        "max_upload_streams",
        "_slots",
        "_running_streams",
        "_tasks",
    )

    def __init__(self, connection: HubConnection) -> None:
        self.connection = connection
        self.hub: type[Hub] = connection.hub
        self.detailed_errors = bool(hub_option(self.hub, "DETAILED_ERRORS"))
        self.filters = hub_filters(self.hub)
        self._uploads: StreamTracker | None = None  # created with the first upload stream
        self.max_streams = int(hub_option(self.hub, "MAX_STREAMS"))
        self.max_upload_streams = int(hub_option(self.hub, "MAX_UPLOAD_STREAMS"))
        self._slots: InvocationSlots | None = None  # created with the first invocation
        self._running_streams: dict[str, ServerStream] | None = None  # created with the first stream
        self._tasks: set[asyncio.Task[None]] | None = None  # created with the first invocation (idle costs nothing)

    @property
    def streams(self) -> StreamTracker:
        """The client-to-server streams of this connection (their buffered bytes bounded)."""
        if self._uploads is None:
            capacity = int(hub_option(self.hub, "STREAM_BUFFER_CAPACITY"))
            self._uploads = StreamTracker(limit=capacity * int(hub_option(self.hub, "MAX_MESSAGE_SIZE")))
        return self._uploads

    def cancel(self, invocation_id: str) -> None:
        """A CancelInvocation: stop that server stream (cancels of anything else are ignored)."""
        running = self._running_streams.pop(invocation_id, None) if self._running_streams else None
        if running is not None:
            running.cancel()

    async def stop(self) -> None:
        """Cancel and await every call still running (the connection ended)."""
        tasks = list(self._tasks or ())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def admit(self, message: InvocationMessage | StreamInvocationMessage) -> None:
        """Start an invocation, or refuse it now; may first wait for room among the queued ones."""
        try:
            method = self._method(message)
        except _Refused as refused:
            self._refuse(message, refused.text)
            return
        streams = self.streams.open(message.stream_ids) if message.stream_ids else []
        try:
            arguments = self._bind(message, method, streams)
        except _Refused as refused:
            if streams:
                self.streams.close(streams)
            self._refuse(message, refused.text)
            return
        slot: Slot | None = None
        if not (method.is_stream or streams):
            slots = self._slots or self._invocation_slots()
            if slots.full:
                await self._wait_for_room(slots)
                if self.connection.state is not State.CONNECTED:
                    return
            slot = slots.admit()
        if method.is_stream:
            task = asyncio.create_task(self._invoke_stream(message, method, arguments, streams))
        else:
            task = start_task(self._run_call(message, method, arguments, streams, slot))
        if not task.done():  # (a call that ended in its eager first step has nothing left to cancel)
            if self._tasks is None:
                self._tasks = set()
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if isinstance(message, StreamInvocationMessage):
            invocation_id = message.invocation_id
            if self._running_streams is None:
                self._running_streams = {}
            running = self._running_streams
            running[invocation_id] = ServerStream(task)
            task.add_done_callback(lambda _: running.pop(invocation_id, None))

    async def _wait_for_room(self, slots: InvocationSlots) -> None:
        """Stop reading until another invocation may wait for a slot (or the connection ends).

        Raises ``LimitExceeded`` when the transport cannot stop the client (the connection then closes).
        """
        connection = self.connection
        if not connection.transport.can_pause:
            raise LimitExceeded(
                f"More than {slots.limit} invocations waited for a free slot (MAX_QUEUED_INVOCATIONS), and this "
                "server cannot pause a client."
            )
        connection.reading_paused = True
        room = asyncio.ensure_future(slots.room())
        try:
            await asyncio.wait({room, connection.ending()}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            room.cancel()
            connection.reading_paused = False
            connection.last_received = time.monotonic()

    def _refuse(self, message: InvocationMessage | StreamInvocationMessage, text: str) -> None:
        """Answer an invocation refused before it ran (nothing for a non-blocking one)."""
        if message.invocation_id is not None:
            connection = self.connection
            connection.enqueue_frame(connection.encode(CompletionMessage.with_error(message.invocation_id, text)))

    async def _invoke_stream(
        self,
        message: InvocationMessage | StreamInvocationMessage,
        method: HubMethod,
        arguments: list[Any],
        streams: list[UploadStream],
    ) -> None:
        current_invocation.set(asyncio.current_task())
        try:
            await self._run_stream(message, method, arguments)
        finally:
            self._finished(streams)

    def _finished(self, streams: list[UploadStream]) -> None:
        """An invocation ended: its upload streams close, and a durable connection saves ``context.items``."""
        if streams:
            self.streams.close(streams)
        connection = self.connection
        if connection.resume is not None:
            connection.resume.save_items(connection.items_if_used, connection.spawn)

    def _method(self, message: InvocationMessage | StreamInvocationMessage) -> HubMethod:
        """The hub method ``message`` may run, or ``_Refused`` with the Completion error."""
        target = message.target
        method = self.hub.find_method(target)
        if method is None:
            log_unknown_method(self.hub, target)
            raise _Refused(errors.unknown_method(target))
        wants_stream = isinstance(message, StreamInvocationMessage)
        if method.is_stream and not wants_stream:
            raise _Refused(errors.streaming_method_with_invocation(target))
        if wants_stream and not method.is_stream:
            raise _Refused(errors.non_streaming_method_with_stream_invocation(target))
        stream_ids = message.stream_ids or []
        if len(stream_ids) != len(method.stream_positions):
            raise _Refused(errors.stream_count_mismatch(target, len(stream_ids), len(method.stream_positions)))
        if wants_stream:
            if message.invocation_id in (self._running_streams or ()):
                raise _Refused(errors.invocation_id_in_use(message.invocation_id))
            if len(self._running_streams or ()) >= self.max_streams:
                raise _Refused(errors.too_many_streams(target, self.max_streams))
        if stream_ids and len(self.streams) + len(stream_ids) > self.max_upload_streams:
            raise _Refused(errors.too_many_upload_streams(target, self.max_upload_streams))
        return method

    def _bind(
        self, message: InvocationMessage | StreamInvocationMessage, method: HubMethod, streams: list[UploadStream]
    ) -> list[Any]:
        try:
            return method.bind(message.arguments, streams)
        except ArgumentError as exc:
            raise _Refused(errors.binding_failure(message.target, *self.detail(exc))) from exc

    async def _run_call(
        self,
        message: InvocationMessage | StreamInvocationMessage,
        method: HubMethod,
        arguments: list[Any],
        streams: list[UploadStream],
        slot: Slot | None,
    ) -> None:
        current_invocation.set(asyncio.current_task())
        try:
            try:
                call = self._call(method, arguments)
                result = await (call if slot is None else slot.run(call))
            except PermissionDenied:
                frame = self._completion(message, CompletionMessage.with_error, errors.unauthorized(message.target))
            except Exception as exc:
                self._log_failure(message, exc)
                error = errors.invocation_error(message.target, *self.detail(exc))
                frame = self._completion(message, CompletionMessage.with_error, error)
            else:
                frame = (
                    self._completion(message, CompletionMessage.void)
                    if method.is_void
                    else self._result(message, result)
                )
            if frame is not None:
                await self.connection.send_frame(frame)
        finally:
            self._finished(streams)

    async def _run_stream(
        self, message: InvocationMessage | StreamInvocationMessage, method: HubMethod, arguments: list[Any]
    ) -> None:
        invocation_id = message.invocation_id
        assert invocation_id is not None
        send = self.connection.send
        try:
            generator = await self._call(method, arguments)
        except PermissionDenied:
            await send(CompletionMessage.with_error(invocation_id, errors.unauthorized(message.target)))
            return
        except Exception as exc:
            self._log_failure(message, exc)
            error = errors.invocation_error(message.target, *self.detail(exc))
            await send(CompletionMessage.with_error(invocation_id, error))
            return
        try:
            try:
                first = await self._first_item(invocation_id, generator)
            except StopAsyncIteration:
                await send(CompletionMessage.void(invocation_id))
                return
            except Exception as exc:
                self._log_failure(message, exc)
                await send(
                    CompletionMessage.with_error(
                        invocation_id, errors.invocation_error(message.target, *self.detail(exc))
                    )
                )
                return
            try:
                await send(StreamItemMessage(invocation_id=invocation_id, item=first))
                async for item in generator:
                    await send(StreamItemMessage(invocation_id=invocation_id, item=item))
            except Exception as exc:
                self._log_failure(message, exc)
                await send(CompletionMessage.with_error(invocation_id, errors.streaming_error(*self.detail(exc))))
                return
            await send(CompletionMessage.void(invocation_id))
        finally:
            await generator.aclose()

    async def _first_item(self, invocation_id: str, generator: Any) -> Any:
        """The stream's first item; a stream cancelled (and forgotten) before it started ends at once."""
        running = self._running_streams.get(invocation_id) if self._running_streams else None
        if running is None:
            running = ServerStream(asyncio.current_task())  # type: ignore[arg-type]
            running.cancel()
        return await running.first_item(generator)

    def _completion(self, message: InvocationMessage | StreamInvocationMessage, build: Any, *args: Any) -> Any:
        """The encoded Completion of a blocking invocation (``None`` for a non-blocking one)."""
        if message.invocation_id is None:
            return None
        try:
            return self.connection.encode(build(message.invocation_id, *args))
        except (TypeError, ValueError) as exc:
            return self._unserializable(message, exc)

    def _result(self, message: InvocationMessage | StreamInvocationMessage, result: Any) -> Any:
        """The encoded Completion carrying ``result`` (``None`` for a non-blocking invocation)."""
        if message.invocation_id is None:
            return None
        try:
            return self.connection.protocol.write_result(message.invocation_id, result)  # type: ignore[union-attr]
        except (TypeError, ValueError) as exc:
            return self._unserializable(message, exc)

    def _unserializable(self, message: InvocationMessage | StreamInvocationMessage, exc: Exception) -> Any:
        logger.error("realtime: result of %r cannot be serialized: %s", message.target, exc)
        error = errors.invocation_error(message.target, *self.detail(exc))
        return self.connection.encode(CompletionMessage.with_error(message.invocation_id, error))  # type: ignore[arg-type]

    def _invocation_slots(self) -> InvocationSlots:
        """The connection's ``MAX_PARALLEL_INVOCATIONS`` slots (made with its first plain invocation)."""
        if self._slots is None:
            parallel = int(hub_option(self.hub, "MAX_PARALLEL_INVOCATIONS"))
            self._slots = InvocationSlots(parallel, int(hub_option(self.hub, "MAX_QUEUED_INVOCATIONS")))
        return self._slots

    async def _call(self, method: HubMethod, arguments: list[Any]) -> Any:
        """Check the method's permissions, then call it through the hub filters (a stream: create it)."""
        hub = self.hub(self.connection)
        if method.permission_classes:
            connection = self.connection
            request = ConnectionRequest(
                connection.user,
                connection.user_id,
                connection.request,
                auth=connection.claims or None,
                hub_method=method.name,
                arguments=arguments,
            )
            if not await allowed(method.permission_classes, request, self.hub):
                raise PermissionDenied(method.name)

        if not self.filters and method.is_async and not method.is_stream:
            return await method.func(hub, *arguments)  # no filter to hand an InvocationContext to

        async def call(context: InvocationContext) -> Any:
            if method.is_stream:
                return method.func(context.hub, *context.arguments)
            if method.is_async:
                return await method.func(context.hub, *context.arguments)
            return await database_sync_to_async(method.func)(context.hub, *context.arguments)

        return await chain(self.filters, "invoke", call)(InvocationContext(hub, method.name, arguments))

    async def call_hook(self, name: str, *args: Any) -> None:
        """Run ``on_connected``/``on_disconnected`` through the hub filters."""
        hook = chain(self.filters, name, lambda hub, *rest: getattr(hub, name)(*rest))
        await hook(self.hub(self.connection), *args)
        self._finished([])

    def detail(self, exc: BaseException) -> tuple[str | None, str | None]:
        """The (type, message) suffix clients may see: always for HubError, else with detailed errors."""
        return errors.exception_parts(exc, detailed=self.detailed_errors)

    def _log_failure(self, message: InvocationMessage | StreamInvocationMessage, exc: Exception) -> None:
        if isinstance(exc, HubError):
            logger.info("realtime: %s raised %s: %s", message.target, errors.wire_type_name(exc), exc)
        else:
            logger.exception("realtime: hub method %r failed", message.target)


class _Refused(Exception):
    """An invocation refused before it ran; ``text`` is the Completion error."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text
