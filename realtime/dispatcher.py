"""From inbound bytes to hub messages: the handshake, the receive path, and the end of a connection.

Theory of operation
-------------------
A transport calls :meth:`HubDispatcher.receive` with each chunk it reads. The first chunk(s) carry the
handshake; after it, every message is handled right away on the receive path: Ping does nothing (any
input resets the client-timeout clock), CancelInvocation cancels a running stream, StreamItem and
Completion feed upload streams or answer client results, and Invocations go to the connection's
:class:`~realtime.invocations.Invocations`, which may make the receive path wait (that is how a client is
pushed back). When the transport ends, :meth:`HubDispatcher.closed` stops every call, runs
``on_disconnected``, and drops the connection's presence and group memberships.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from . import lifetime, local, loops
from .conf import hub_option, realtime_settings
from .connection import HubConnection, State
from .exceptions import HandshakeError, RemoteProtocolError
from .invocations import Invocations
from .participants import participants
from .protocol import errors, handshake
from .protocol.base import HubProtocol
from .protocol.messages import (
    AckMessage,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    HubMessage,
    InvocationMessage,
    SequenceMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)
from .protocol.stateful import SEQUENCED
from .resume import Resume
from .resume_store import RedisResumeStore, durable, resume_store
from .transports import claim
from .types import Transport

if TYPE_CHECKING:
    from .hubs import Hub

logger = logging.getLogger("realtime.dispatcher")

YIELD_EVERY = 32
"""Messages handled between two turns given to the other tasks of the event loop. A server's receive queue
(Daphne's, uvicorn's) hands over queued frames without suspending, so one client that floods, or one frame
that carries thousands of messages, would otherwise hold the loop that serves every other connection."""


class HubDispatcher:
    """Handshake, message handling and invocation tasks for one :class:`HubConnection`."""

    __slots__ = (
        "connection",
        "hub",
        "invocations",
        "max_message_size",
        "_handshake_buffer",
        "_decoder",
        "_handled",
        "_connected",
        "_error",
    )

    def __init__(self, connection: HubConnection) -> None:
        self.connection = connection
        self.hub: type[Hub] = connection.hub
        self.invocations = Invocations(connection)
        self.max_message_size: int | None = hub_option(self.hub, "MAX_MESSAGE_SIZE")
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
            await connection.abort(errors.close_error(*errors.exception_parts(exc, detailed=True)))

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
            text = handshake.handshake_error_text(exc, detailed=self.invocations.detailed_errors)
            logger.info("realtime: handshake of %s failed: %s", connection.connection_id, text)
            await connection.fail_handshake(text)
            return b""
        self._handshake_buffer = b""
        await self._accept(protocol, request.version)
        return rest if connection.state is State.CONNECTED else b""

    async def _accept(self, protocol: HubProtocol, version: int) -> None:
        connection = self.connection
        self._decoder = protocol.decoder()
        response = handshake.handshake_response()
        connection.handshake_done(protocol)
        await connection.send_frame(response if protocol.transfer_format == "Binary" else response.decode())
        token = connection.transport.resume_token
        if token and version >= 2:  # granted by negotiate, and asked for again by the handshake
            size = int(hub_option(self.hub, "STATEFUL_RECONNECT_BUFFER_SIZE"))
            connection.resume = Resume(token, buffer_size=size, window=float(realtime_settings.DISCONNECT_TIMEOUT))
            connection.resume.expire = self._expire
            claim.hold(token, self)
            if (store := resume_store()) is not None:
                await self._make_durable(store, protocol)
        await local.table().add(connection)
        self._connected = True
        try:
            for participant in participants:
                await participant.connected(connection)
            await self.invocations.call_hook("on_connected")
        except Exception as exc:
            logger.exception("realtime: on_connected of %s failed", connection.connection_id)
            await connection.abort(errors.close_error(*self.invocations.detail(exc)))

    async def _handle(self, message: HubMessage, size: int) -> None:
        connection = self.connection
        resume = connection.resume
        if resume is not None:
            if message.type in SEQUENCED:
                if not await resume.accept(message):
                    return  # replayed after a reconnect, and processed before it (or taken over elsewhere)
            elif isinstance(message, AckMessage):
                resume.ack(message.sequence_id, connection.spawn)
            elif isinstance(message, SequenceMessage):
                resume.received.reset(message.sequence_id)
        match message:
            case InvocationMessage() | StreamInvocationMessage():
                await self.invocations.admit(message)
            case StreamItemMessage():
                self.invocations.streams.push(message.invocation_id, message.item, size)
            case CompletionMessage():
                streams = self.invocations.streams
                if message.invocation_id in streams:
                    streams.complete(message.invocation_id, message.error)
                else:
                    connection.resolve_result(message)
            case CancelInvocationMessage():
                self.invocations.cancel(message.invocation_id)
            case CloseMessage():
                await connection.close_transport()
            case _:
                pass  # Ping (the clock was reset above), Ack, Sequence (handled above when granted)

    # -- stateful reconnect ----------------------------------------------------------------------

    async def lost(self, transport: Transport, exception: Exception | None) -> bool:
        """The socket ``transport`` ended: a socket that another one replaced changes nothing; losing the current
        one unexpectedly detaches the connection until its client comes back (``True`` either way). A clean close
        by the client, or a connection that was ending, ends (``False``)."""
        connection = self.connection
        if transport is not connection.transport:
            return True
        if connection.resume is None or exception is None or connection.state is not State.CONNECTED:
            return False
        logger.info("realtime: %s lost its socket; waiting for it to reconnect", connection.connection_id)
        connection.resume.detach()
        return True

    async def resume(self, transport: Transport) -> bool:
        """Carry on over ``transport``, the client's new socket; ``False`` if the connection ended meanwhile."""
        connection = self.connection
        if connection.resume is None or connection.state is not State.CONNECTED:
            return False
        assert connection.protocol is not None
        self._decoder = connection.protocol.decoder()  # a message cut by the lost socket is replayed whole
        logger.info("realtime: %s resumes on a new socket", connection.connection_id)
        await connection.resume.attach(connection, transport)
        return True

    async def adopt(self, protocol: HubProtocol, resume: Resume, hub_groups: list[str]) -> None:
        """Go on with a connection taken over from a process that died (``realtime.takeover``): connected with
        ``protocol`` and ``resume`` as its owner left them, in its hub groups again; no ``on_connected``."""
        connection = self.connection
        self._decoder = protocol.decoder()
        connection.handshake_done(protocol)
        connection.start_timers()
        await local.table().add(connection)
        for group in hub_groups:
            await local.table().join(connection, group)
        resume.expire, resume.evict = self._expire, self._evict
        connection.resume = resume
        claim.hold(resume.token, self)
        durable.own(resume.token)
        self._connected = True
        for participant in participants:
            await participant.adopted(connection)

    async def _make_durable(self, store: RedisResumeStore, protocol: HubProtocol) -> None:
        """Keep this connection's state in the durable store, so another process can take it over."""
        connection, resume = self.connection, self.connection.resume
        assert resume is not None
        resume.store, resume.owner, resume.evict = store, await lifetime.process_channel().start(), self._evict
        fields = {"cid": connection.connection_id, "hub": self.hub.hub_name(), "proto": protocol.name}
        await store.grant(resume.token, resume.owner, {**fields, "uid": connection.user_id or ""})
        durable.own(resume.token)

    async def _evict(self) -> None:
        """Another process took this connection over (this one was thought dead): let it go here without ending
        it, since it goes on there (no ``on_disconnected``)."""
        connection = self.connection
        if connection.state is State.CLOSED or connection.resume is None:
            return
        logger.warning("realtime: %s was taken over by another process; letting it go here", connection.connection_id)
        connection.resume.store = None
        durable.disown(connection.resume.token)
        claim.forget_here(connection.resume.token)
        connection.state = State.CLOSED
        await self.invocations.stop()
        await connection.cleanup()
        for participant in reversed(participants):
            await participant.let_go(connection)  # presence: the entries are the new owner's, nobody left
        if self._connected:
            local.table().remove(connection)
        await connection.transport.close()

    async def _expire(self) -> None:
        """The client did not come back within the window: end the connection as an ordinary disconnect."""
        connection = self.connection
        logger.info("realtime: %s did not reconnect in time; ending it", connection.connection_id)
        try:
            await self.closed(ConnectionError("The client did not reconnect within the disconnect timeout."))
        finally:
            if connection.resume is not None:
                await claim.release(connection.resume.token)

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
            await self.invocations.stop()
            await connection.cleanup()
            if self._connected:
                try:
                    await self.invocations.call_hook("on_disconnected", exception or self._error)
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
            resume = connection.resume
            if resume is not None and resume.store is not None:  # ended here: nobody will take it over
                durable.disown(resume.token)
                await resume.store.forget(resume.token)
