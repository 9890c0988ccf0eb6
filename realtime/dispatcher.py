"""From inbound bytes to hub method calls, and from their outcomes to Completions.

Theory of operation
-------------------
A transport calls :meth:`HubDispatcher.receive` with each chunk it reads. The first chunk(s) carry the
handshake; after it, every message is handled right away on the receive path: Ping does nothing (any
input resets the client-timeout clock), CancelInvocation cancels a running stream, StreamItem and
Completion feed upload streams or answer client results. Invocations never run on the receive path:
each is resolved and bound there (a refusal is answered at once, without a task) and then becomes its
own task. A plain invocation waits for one of the connection's slots (``realtime.slots``): while
``MAX_QUEUED_INVOCATIONS`` already wait, the receive path itself waits, which stops the transport's
reading (or closes the connection where the server cannot be paused). Server streams and methods
with upload streams take no slot; ``MAX_STREAMS`` and ``MAX_UPLOAD_STREAMS`` bound them instead. When
the transport ends, :meth:`HubDispatcher.closed` cancels and awaits every task, runs
``on_disconnected`` and drops the connection's group memberships and presence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied

from . import local, loops
from .auth import scope_user
from .conf import hub_option
from .connection import HubConnection, State, current_invocation, participants
from .endpoints import ConnectionInfo, Endpoint, Handler
from .exceptions import HandshakeError, HubError, LimitExceeded, RemoteProtocolError
from .filters import InvocationContext, chain, hub_filters
from .methods import ArgumentError, HubMethod
from .permissions import ConnectionRequest, allowed
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
from .request import RequestInfo
from .slots import InvocationSlots, Slot
from .streams import StreamTracker, UploadStream
from .types import Scope, Transport

if TYPE_CHECKING:
    from .hubs import Hub

logger = logging.getLogger("realtime.dispatcher")

YIELD_EVERY = 32
"""Messages handled between two turns given to the other tasks of the event loop. A server's receive queue
(Daphne's, uvicorn's) hands over queued frames without suspending, so one client that floods, or one frame
that carries thousands of messages, would otherwise hold the loop that serves every other connection."""

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
        "max_streams",
        "max_upload_streams",
        "_slots",
        "_running_streams",
        "_tasks",
        "_handshake_buffer",
        "_decoder",
        "_handled",
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
        self.max_streams = int(hub_option(self.hub, "MAX_STREAMS"))
        self.max_upload_streams = int(hub_option(self.hub, "MAX_UPLOAD_STREAMS"))
        self._slots: InvocationSlots | None = None  # created with the first invocation
        self._running_streams: dict[str, _RunningStream] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._handshake_buffer = b""
        self._decoder: Any = None
        self._handled = 0
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
            decoder = self._decoder
            for message in decoder.messages(data):
                await self._handle(message, decoder.last_size)
                if connection.state is not State.CONNECTED:
                    break
                self._handled += 1
                if self._handled >= YIELD_EVERY:
                    self._handled = 0
                    await asyncio.sleep(0)
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
            for participant in participants:
                await participant.connected(connection)
            await self._call_hook("on_connected")
        except Exception as exc:
            logger.exception("realtime: on_connected of %s failed", connection.connection_id)
            await connection.abort(errors.close_error(*self._detail(exc)))

    async def _handle(self, message: HubMessage, size: int) -> None:
        connection = self.connection
        match message:
            case InvocationMessage() | StreamInvocationMessage():
                await self._admit(message)
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

    async def _admit(self, message: InvocationMessage | StreamInvocationMessage) -> None:
        """Start an invocation, or refuse it now; may first wait for room among the queued ones."""
        try:
            method = self._method(message)
        except _Refused as refused:
            self._refuse(message, refused.text)
            return
        streams = self.streams.open(message.stream_ids or [])
        try:
            arguments = self._bind(message, method, streams)
        except _Refused as refused:
            self.streams.close(streams)
            self._refuse(message, refused.text)
            return
        slot: Slot | None = None
        if not (method.is_stream or streams):
            slots = self._invocation_slots()
            if slots.full:
                await self._wait_for_room(slots)
                if self.connection.state is not State.CONNECTED:
                    return
            slot = slots.admit()
        task = asyncio.create_task(self._invoke(message, method, arguments, streams, slot))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if isinstance(message, StreamInvocationMessage):
            invocation_id = message.invocation_id
            self._running_streams[invocation_id] = _RunningStream(task)
            task.add_done_callback(lambda _: self._running_streams.pop(invocation_id, None))

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

    async def _invoke(
        self,
        message: InvocationMessage | StreamInvocationMessage,
        method: HubMethod,
        arguments: list[Any],
        streams: list[UploadStream],
        slot: Slot | None,
    ) -> None:
        current_invocation.set(asyncio.current_task())
        try:
            if method.is_stream:
                await self._run_stream(message, method, arguments)
            else:
                await self._run_call(message, method, arguments, slot)
        finally:
            self.streams.close(streams)

    def _method(self, message: InvocationMessage | StreamInvocationMessage) -> HubMethod:
        """The hub method ``message`` may run, or ``_Refused`` with the Completion error."""
        target = message.target
        method = self.hub.hub_methods.get(target)
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
            if message.invocation_id in self._running_streams:
                raise _Refused(errors.invocation_id_in_use(message.invocation_id))
            if len(self._running_streams) >= self.max_streams:
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
            raise _Refused(errors.binding_failure(message.target, *self._detail(exc))) from exc

    async def _run_call(
        self,
        message: InvocationMessage | StreamInvocationMessage,
        method: HubMethod,
        arguments: list[Any],
        slot: Slot | None,
    ) -> None:
        try:
            async with slot or contextlib.nullcontext():
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
        try:
            await asyncio.sleep(0)  # the step runs first: the method body is entered
        except asyncio.CancelledError:  # the connection ended right now: stop the step, let the method clean up
            step.cancel()
            await asyncio.gather(step, return_exceptions=True)
            raise
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

    def _invocation_slots(self) -> InvocationSlots:
        """The connection's ``MAX_PARALLEL_INVOCATIONS`` slots (made with its first plain invocation)."""
        if self._slots is None:
            parallel = int(hub_option(self.hub, "MAX_PARALLEL_INVOCATIONS"))
            self._slots = InvocationSlots(parallel, int(hub_option(self.hub, "MAX_QUEUED_INVOCATIONS")))
        return self._slots

    def _hub_instance(self) -> Hub:
        return self.hub(self.connection)

    async def _call(self, method: HubMethod, arguments: list[Any]) -> Any:
        """Check the method's permissions, then call it through the hub filters (a stream: create it)."""
        hub = self._hub_instance()
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
        """The transport ended: stop every task, run ``on_disconnected``, drop memberships and presence. Idempotent.

        The work runs as a task of the loop's services, shielded: a server that cancels the transport's task
        meanwhile (Daphne after ``application_close_timeout``) cannot leave the connection half-ended, still in
        the table and its groups.
        """
        if self.connection.state is State.CLOSED:
            return
        self.connection.state = State.CLOSED
        await asyncio.shield(loops.services().spawn(self._end(exception)))

    async def _end(self, exception: Exception | None) -> None:
        connection = self.connection
        try:
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
                for participant in reversed(participants):
                    try:
                        await participant.disconnected(connection)
                    except Exception:
                        logger.exception("realtime: ending %s in %r failed", connection.connection_id, participant)
        finally:
            if self._connected:
                local.table().remove(connection)


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


def hub_endpoint(hub: type[Hub]) -> Endpoint:
    """The :class:`Endpoint` serving ``hub``: a :class:`HubConnection` and its dispatcher per connection."""
    def create(transport: Transport, info: ConnectionInfo) -> Handler:
        connection = HubConnection(
            hub,
            transport,
            connection_id=info.connection_id,
            user=info.user,
            user_id=info.user_id,
            request=info.request,
            expires=info.expires,
            claims=info.claims,
        )
        return HubDispatcher(connection)

    async def authorize(scope: Scope) -> int | None:
        user, user_id = scope_user(scope)
        request = ConnectionRequest(user, user_id, RequestInfo.from_scope(scope), auth=scope.get("auth_claims"))
        if await allowed(hub.get_permission_classes(), request, hub):
            return None
        return 403 if getattr(user, "is_authenticated", False) else 401

    return Endpoint(
        hub.hub_name(),
        tuple(hub_option(hub, "TRANSPORTS")),
        create,
        authorize,
        min_negotiate_version=int(hub_option(hub, "MIN_NEGOTIATE_VERSION")),
    )
