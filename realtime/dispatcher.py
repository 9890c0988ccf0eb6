"""From inbound bytes to hub method calls, and from their outcomes to Completions.

Theory of operation
-------------------
A transport calls :meth:`HubDispatcher.receive` with each chunk it reads. The first chunk(s) carry the
handshake; after it, every message is handled right away on the receive path: Ping does nothing (any
input resets the client-timeout clock), CancelInvocation cancels a running stream, StreamItem and
Completion feed upload streams or answer client results. Invocations never run on the receive path:
each becomes its own task, which waits for one of ``MAX_PARALLEL_INVOCATIONS`` slots (arrival order),
so a long method, a stream or a wait for upload items can never stop the receive path. A blocking
invocation holds its slot until it completes; a stream only until the generator is created; a wait
for a client result releases it. When the transport ends, :meth:`HubDispatcher.closed` cancels and
awaits every task, runs ``on_disconnected`` and drops the connection's group memberships and presence.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied

from . import local, presence
from .conf import hub_option
from .connection import HubConnection, State, current_invocation
from .exceptions import HandshakeError, HubError, RemoteProtocolError
from .filters import InvocationContext, chain, hub_filters
from .hubs import Hub
from .methods import ArgumentError, HubMethod
from .permissions import AccessRequest, allowed
from .protocol import errors, handshake
from .protocol.base import HubProtocol
from .protocol.messages import (
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    HubMessage,
    InvocationMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)
from .streams import StreamTracker, UploadStream

logger = logging.getLogger("realtime.dispatcher")

_slot: contextvars.ContextVar[asyncio.Semaphore | None] = contextvars.ContextVar("realtime_slot", default=None)


@asynccontextmanager
async def released_slot() -> AsyncIterator[None]:
    """Give the current invocation's slot back while waiting (for a client result), then retake it."""
    slot = _slot.get()
    if slot is None:
        yield
        return
    slot.release()
    _slot.set(None)
    try:
        yield
    finally:
        await slot.acquire()
        _slot.set(slot)


def wire_type(exc: BaseException) -> str:
    """The exception type name clients see (``HubException`` for ``HubError``)."""
    return getattr(exc, "wire_name", None) or type(exc).__name__


class HubDispatcher:
    """Handshake, message handling and invocation tasks for one :class:`HubConnection`."""

    __slots__ = (
        "connection",
        "hub",
        "detailed_errors",
        "max_message_size",
        "filters",
        "streams",
        "_slots",
        "_running_streams",
        "_tasks",
        "_handshake_buffer",
        "_decoder",
        "_connected",
        "_error",
    )

    def __init__(self, connection: HubConnection) -> None:
        self.connection = connection
        self.hub: type[Hub] = connection.hub
        self.detailed_errors = bool(hub_option(self.hub, "DETAILED_ERRORS"))
        self.max_message_size: int | None = hub_option(self.hub, "MAX_MESSAGE_SIZE")
        self.filters = hub_filters(self.hub)
        capacity = int(hub_option(self.hub, "STREAM_BUFFER_CAPACITY"))
        self.streams = StreamTracker(limit=capacity * int(hub_option(self.hub, "MAX_MESSAGE_SIZE")))
        self._slots: asyncio.Semaphore | None = None  # created with the first invocation
        self._running_streams: dict[str, _RunningStream] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._handshake_buffer = b""
        self._decoder: Any = None
        self._connected = False
        self._error: Exception | None = None

    # -- inbound ---------------------------------------------------------------------------------

    def open(self) -> None:
        """The transport is open: start the handshake clock."""
        self.connection.start_timers()

    async def receive(self, data: bytes | str) -> None:
        """Handle one inbound chunk (whole or partial messages)."""
        connection = self.connection
        if connection.state in (State.CLOSING, State.CLOSED):
            return
        connection.last_received = time.monotonic()
        if connection.state is State.HANDSHAKING:
            rest = await self._handshake(data.encode("utf-8") if isinstance(data, str) else data)
            if not rest:
                return
            data = rest
        try:
            messages = self._decoder.feed(data)
            for message in messages:
                await self._handle(message, len(data) // max(len(messages), 1))
        except RemoteProtocolError as exc:
            logger.info("realtime: closing %s: %s", connection.connection_id, exc)
            self._error = exc  # on_disconnected gets it: this end is not a clean close
            await connection.abort(errors.close_error(wire_type_for_protocol(exc), str(exc)))

    async def _handshake(self, data: bytes) -> bytes:
        """Consume the handshake; returns the bytes that followed it (empty when none, or on failure)."""
        connection = self.connection
        self._handshake_buffer += data
        try:
            request, rest = handshake.parse_handshake(self._handshake_buffer, max_size=self.max_message_size)
            if request is None:
                return b""
            protocol = handshake.select_protocol(
                request, self.hub.protocol_instances(), transfer_formats=connection.transport.transfer_formats
            )
        except HandshakeError as exc:
            text = handshake.handshake_error_text(exc, detailed=self.detailed_errors)
            logger.info("realtime: handshake of %s failed: %s", connection.connection_id, text)
            await connection.fail_handshake(text)
            return b""
        self._handshake_buffer = b""
        await self._accept(protocol)
        return rest if connection.state is State.CONNECTED else b""

    async def _accept(self, protocol: HubProtocol) -> None:
        connection = self.connection
        self._decoder = protocol.decoder()
        response = handshake.handshake_response()
        connection.handshake_done(protocol)
        await connection.send_frame(response if protocol.transfer_format == "Binary" else response.decode())
        await local.table().add(connection)
        self._connected = True
        try:
            if presence.tracks(self.hub):
                await presence.tracker().connected(connection, await self._hub_instance().presence_metadata())
            await self._call_hook("on_connected")
        except Exception as exc:
            logger.exception("realtime: on_connected of %s failed", connection.connection_id)
            await connection.abort(errors.close_error(*self._detail(exc)))

    async def _handle(self, message: HubMessage, size: int) -> None:
        connection = self.connection
        match message:
            case InvocationMessage() | StreamInvocationMessage():
                self._start(message)
            case StreamItemMessage():
                self.streams.push(message.invocation_id, message.item, size)
            case CompletionMessage():
                if message.invocation_id in self.streams:
                    self.streams.complete(message.invocation_id, message.error)
                else:
                    connection.resolve_result(message)
            case CancelInvocationMessage():
                running = self._running_streams.pop(message.invocation_id, None)
                if running is not None:
                    running.cancel()
            case CloseMessage():
                await connection.close_transport()
            case _:
                pass  # Ping (the clock was reset above), Ack, Sequence

    # -- invocations -----------------------------------------------------------------------------

    def _start(self, message: InvocationMessage | StreamInvocationMessage) -> None:
        streams = self.streams.open(message.stream_ids or [])
        task = asyncio.create_task(self._invoke(message, streams))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if isinstance(message, StreamInvocationMessage):
            self._running_streams[message.invocation_id] = _RunningStream(task)
            task.add_done_callback(lambda _: self._running_streams.pop(message.invocation_id, None))

    async def _invoke(self, message: InvocationMessage | StreamInvocationMessage, streams: list[UploadStream]) -> None:
        current_invocation.set(asyncio.current_task())
        try:
            method, arguments = self._resolve(message, streams)
            if method.is_stream:
                await self._run_stream(message, method, arguments)
            else:
                await self._run_call(message, method, arguments)
        except _Refused as refused:
            await self._complete(message, CompletionMessage.with_error, refused.text)
        finally:
            self.streams.close(streams)

    def _resolve(
        self, message: InvocationMessage | StreamInvocationMessage, streams: list[UploadStream]
    ) -> tuple[HubMethod, list[Any]]:
        target = message.target
        method = self.hub.hub_methods.get(target)
        if method is None:
            raise _Refused(errors.unknown_method(target))
        wants_stream = isinstance(message, StreamInvocationMessage)
        if method.is_stream and not wants_stream:
            raise _Refused(errors.streaming_method_with_invocation(target))
        if wants_stream and not method.is_stream:
            raise _Refused(errors.non_streaming_method_with_stream_invocation(target))
        if len(streams) != len(method.stream_positions):
            raise _Refused(errors.stream_count_mismatch(target, len(streams), len(method.stream_positions)))
        try:
            return method, method.bind(message.arguments, streams)
        except ArgumentError as exc:
            raise _Refused(errors.binding_failure(target, *self._detail(exc))) from exc

    async def _run_call(
        self, message: InvocationMessage | StreamInvocationMessage, method: HubMethod, arguments: list[Any]
    ) -> None:
        try:
            async with self._slot():
                result = await self._call(method, arguments)
        except PermissionDenied:
            await self._complete(message, CompletionMessage.with_error, errors.unauthorized(message.target))
            return
        except Exception as exc:
            self._log_failure(message, exc)
            await self._complete(
                message, CompletionMessage.with_error, errors.invocation_error(message.target, *self._detail(exc))
            )
            return
        if method.is_void:
            await self._complete(message, CompletionMessage.void)
        else:
            await self._complete(message, CompletionMessage.with_result, result)

    async def _run_stream(
        self, message: InvocationMessage | StreamInvocationMessage, method: HubMethod, arguments: list[Any]
    ) -> None:
        invocation_id = message.invocation_id
        assert invocation_id is not None
        send = self.connection.send
        try:
            async with self._slot():
                generator = await self._call(method, arguments)
        except PermissionDenied:
            await send(CompletionMessage.with_error(invocation_id, errors.unauthorized(message.target)))
            return
        except Exception as exc:
            self._log_failure(message, exc)
            error = errors.invocation_error(message.target, *self._detail(exc))
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
                        invocation_id, errors.invocation_error(message.target, *self._detail(exc))
                    )
                )
                return
            try:
                await send(StreamItemMessage(invocation_id=invocation_id, item=first))
                async for item in generator:
                    await send(StreamItemMessage(invocation_id=invocation_id, item=item))
            except Exception as exc:
                self._log_failure(message, exc)
                await send(CompletionMessage.with_error(invocation_id, errors.streaming_error(*self._detail(exc))))
                return
            await send(CompletionMessage.void(invocation_id))
        finally:
            await generator.aclose()

    async def _first_item(self, invocation_id: str, generator: Any) -> Any:
        """Start the stream method and return its first item.

        A CancelInvocation that arrived before the method started is applied only once its body runs,
        so the method always sees its cancellation (``InfiniteStream`` of scenario 6 reacts to it).
        """
        step = asyncio.ensure_future(generator.__anext__())
        await asyncio.sleep(0)  # the step runs first: the method body is entered
        running = self._running_streams.get(invocation_id)
        if running is not None:
            running.started(step)
        elif not step.done():  # cancelled (and forgotten) before it started
            step.cancel()
        return await step

    async def _complete(self, message: InvocationMessage | StreamInvocationMessage, build: Any, *args: Any) -> None:
        """Send the Completion of a blocking invocation (nothing for a non-blocking one)."""
        if message.invocation_id is None:
            return
        completion = build(message.invocation_id, *args)
        try:
            frame = self.connection.encode(completion)
        except (TypeError, ValueError) as exc:
            logger.error("realtime: result of %r cannot be serialized: %s", message.target, exc)
            completion = CompletionMessage.with_error(
                message.invocation_id, errors.invocation_error(message.target, *self._detail(exc))
            )
            frame = self.connection.encode(completion)
        await self.connection.send_frame(frame)

    def _slot(self) -> _Slot:
        """One of the connection's ``MAX_PARALLEL_INVOCATIONS`` slots (``async with``)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(int(hub_option(self.hub, "MAX_PARALLEL_INVOCATIONS")))
        return _Slot(self._slots)

    def _hub_instance(self) -> Hub:
        return self.hub(self.connection)

    async def _call(self, method: HubMethod, arguments: list[Any]) -> Any:
        """Check the method's permissions, then call it through the hub filters (a stream: create it)."""
        hub = self._hub_instance()
        if method.permission_classes:
            connection = self.connection
            access = AccessRequest(connection.user, connection.user_id, connection.request, method.name, arguments)
            if not await allowed(method.permission_classes, access, self.hub):
                raise PermissionDenied(method.name)

        async def call(context: InvocationContext) -> Any:
            if method.is_stream:
                return method.func(context.hub, *context.arguments)
            if method.is_async:
                return await method.func(context.hub, *context.arguments)
            return await database_sync_to_async(method.func)(context.hub, *context.arguments)

        return await chain(self.filters, "invoke", call)(InvocationContext(hub, method.name, arguments))

    async def _call_hook(self, name: str, *args: Any) -> None:
        """Run ``on_connected``/``on_disconnected`` through the hub filters."""
        hook = chain(self.filters, name, lambda hub, *rest: getattr(hub, name)(*rest))
        await hook(self._hub_instance(), *args)

    def _detail(self, exc: BaseException) -> tuple[str | None, str | None]:
        """The (type, message) suffix clients may see: always for HubError, else with detailed errors."""
        if isinstance(exc, HubError) or self.detailed_errors:
            return wire_type(exc), str(exc)
        return None, None

    def _log_failure(self, message: InvocationMessage | StreamInvocationMessage, exc: Exception) -> None:
        if isinstance(exc, HubError):
            logger.info("realtime: %s raised %s: %s", message.target, wire_type(exc), exc)
        else:
            logger.exception("realtime: hub method %r failed", message.target)

    # -- end -------------------------------------------------------------------------------------

    async def closed(self, exception: Exception | None = None) -> None:
        """The transport ended: stop every task, run ``on_disconnected``, drop memberships and presence. Idempotent."""
        connection = self.connection
        if connection.state is State.CLOSED:
            return
        connection.state = State.CLOSED
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await connection.cleanup()
        if self._connected:
            try:
                await self._call_hook("on_disconnected", exception or self._error)
            except Exception:
                logger.exception("realtime: on_disconnected of %s failed", connection.connection_id)
            finally:
                try:
                    if presence.tracks(self.hub):
                        await presence.tracker().disconnected(connection.connection_id)
                finally:
                    local.table().remove(connection)


class _Slot:
    """Hold an invocation slot, published in a context variable so client-result waits can release it.

    A plain class rather than ``asynccontextmanager``: this runs on every invocation.
    """

    __slots__ = ("semaphore", "token")

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self.semaphore = semaphore

    async def __aenter__(self) -> None:
        await self.semaphore.acquire()
        self.token = _slot.set(self.semaphore)

    async def __aexit__(self, *exc: object) -> None:
        _slot.reset(self.token)
        self.semaphore.release()


class _RunningStream:
    """A server stream that a CancelInvocation may stop; cancels wait until the method has started."""

    __slots__ = ("task", "_step", "_cancelled")

    def __init__(self, task: asyncio.Task[None]) -> None:
        self.task = task
        self._step: asyncio.Future[Any] | None = None
        self._cancelled = False

    def cancel(self) -> None:
        """Stop the stream now if its method runs, else as soon as it starts."""
        self._cancelled = True
        if self._step is not None:
            self.task.cancel()

    def started(self, step: asyncio.Future[Any]) -> None:
        """The method body was entered (``step`` computes its first item)."""
        self._step = step
        if self._cancelled:
            step.cancel()


class _Refused(Exception):
    """An invocation refused before it ran; ``text`` is the Completion error."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def wire_type_for_protocol(exc: RemoteProtocolError) -> str:
    """Protocol errors are reported as ASP.NET does: ``InvalidDataException``."""
    return "InvalidDataException"
