"""Target proxies: who a message goes to (all, a group, a user, one connection...). The one push API.

Every proxy has ``asend`` (async) and ``send`` (sync, for views, signals and Celery tasks). A message is
encoded once per hub protocol, then crosses the channel layer once per process that has recipients.
Single-connection proxies also have ``invoke`` (await a client result). ``aclose``/``close`` end the target
connections with a Close message carrying a reason.

``on_commit=True`` sends after the commit of the transaction open where the call is made, and not at all
after a rollback (``realtime.transactions``). Pushes to several connections skip the connection that made
the current request, when ``ConnectionIdMiddleware`` (or :func:`sender`) names one: "to others".
A push that the channel layer refuses raises :class:`~realtime.exceptions.BroadcastError`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from . import events, lifetime, local, loops, names
from .conf import hub_option
from .exceptions import BroadcastError, ClientResultError
from .protocol.base import Frame
from .protocol.messages import CompletionMessage, InvocationMessage
from .resume_store import resume_store
from .slots import released_slot
from .sync import refuse_in_loop, run_sync
from .transactions import aafter_commit, after_commit

if TYPE_CHECKING:
    from .hubs import Hub


ClientT = TypeVar("ClientT")
"""The client protocol of a typed hub (``Hub[ChatClient]``): what its proxies are typed as."""


class Client(Protocol):
    """Base of client protocols that keep the untyped calls too (``class ChatClient(Client, Protocol)``)."""

    async def asend(self, method: str, *args: Any, on_commit: bool = False, using: str | None = None) -> None: ...

    def send(self, method: str, *args: Any, on_commit: bool = False, using: str | None = None) -> None: ...


_sender: contextvars.ContextVar[str | None] = contextvars.ContextVar("realtime_sender", default=None)


def current_sender() -> str | None:
    """The connection id that pushes to several connections skip now, if any (see :func:`sender`)."""
    return _sender.get()


@contextlib.contextmanager
def sender(connection_id: str | None) -> Iterator[None]:
    """Within the block, pushes to several connections skip ``connection_id`` ("to others"); ``None`` turns the
    skip off. ``ConnectionIdMiddleware`` wraps each request in it."""
    token = _sender.set(connection_id or None)
    try:
        yield
    finally:
        _sender.reset(token)


def encode_invocation(hub: type[Hub], target: str, arguments: Iterable[Any]) -> dict[str, Frame]:
    """Encode a server-to-client invocation once for each of the hub's protocols."""
    message = InvocationMessage(target=target, arguments=list(arguments))
    return {protocol.name: protocol.write(message) for protocol in hub.protocol_instances()}


class ClientProxy:
    """Every connection in one or more layer groups, minus excluded connection ids and the current sender."""

    __slots__ = ("hub", "groups", "exclude")

    def __init__(self, hub: type[Hub], groups: list[str], exclude: Iterable[str] = ()) -> None:
        self.hub = hub
        self.groups = groups
        self.exclude = list(exclude)

    def excluding(self, connection_ids: Iterable[str]) -> ClientProxy:
        """The same targets but ``connection_ids`` too (``clients.user(u).excluding(ids)``)."""
        return ClientProxy(self.hub, self.groups, dict.fromkeys([*self.exclude, *connection_ids]))

    async def asend(self, method: str, *args: Any, on_commit: bool = False, using: str | None = None) -> None:
        """Call client method ``method`` with ``args`` on every target connection; does not wait for them.

        ``on_commit``: after the commit of the transaction open on database ``using`` (``"default"``) where
        this context's sync code runs, and not after a rollback; see ``realtime.transactions``.
        """
        await self.asend_frames(encode_invocation(self.hub, method, args), on_commit=on_commit, using=using)

    async def asend_frames(
        self, frames: dict[str, Frame], *, on_commit: bool = False, using: str | None = None
    ) -> None:
        """Send an invocation already encoded by :func:`encode_invocation` (encode now, send later)."""
        exclude = self._excluded()
        if on_commit and await aafter_commit(lambda: run_sync(self._deliver, frames, exclude), using, str(self)):
            return
        await self._deliver(frames, exclude)

    def send(self, method: str, *args: Any, on_commit: bool = False, using: str | None = None) -> None:
        """Sync twin of :meth:`asend`; ``on_commit`` looks at the transaction open in this thread."""
        refuse_in_loop("ClientProxy.send", "asend")
        self.send_frames(encode_invocation(self.hub, method, args), on_commit=on_commit, using=using)

    def send_frames(self, frames: dict[str, Frame], *, on_commit: bool = False, using: str | None = None) -> None:
        """Sync twin of :meth:`asend_frames`."""
        refuse_in_loop("ClientProxy.send_frames", "asend_frames")
        exclude = self._excluded()
        if on_commit and after_commit(lambda: run_sync(self._deliver, frames, exclude), using, str(self)):
            return
        run_sync(self._deliver, frames, exclude)

    async def aclose(self, reason: str | None = None) -> None:
        """Close every target connection: each gets a Close message whose error is ``reason`` (none when
        ``None``), then its transport ends. Does not wait for them to end."""
        await self._close(reason, self._excluded())

    async def _close(self, reason: str | None, exclude: list[str]) -> None:
        for group in self.groups:
            try:
                await lifetime.send_to_group(group, events.close(group, reason, exclude))
            except Exception as exc:
                raise BroadcastError(f"Could not close {self}: {type(exc).__name__}: {exc}") from exc

    def close(self, reason: str | None = None) -> None:
        """Sync twin of :meth:`aclose`."""
        refuse_in_loop("ClientProxy.close", "aclose")
        run_sync(self.aclose, reason)

    def _excluded(self) -> list[str]:
        skipped = current_sender()
        return self.exclude if skipped is None or skipped in self.exclude else [*self.exclude, skipped]

    async def _deliver(self, frames: dict[str, Frame], exclude: list[str]) -> None:
        store = resume_store()
        try:  # logged first, so a stateful connection whose owner dies before it arrives gets it elsewhere
            log = await store.log(self.hub.hub_name(), self.groups, exclude, frames) if store is not None else ""
        except Exception as exc:
            raise BroadcastError(f"Could not log the send to {self} (STATEFUL_RECONNECT_STORE): {exc}") from exc
        for group in self.groups:
            try:
                await lifetime.send_to_group(group, events.frame(group, frames, exclude, log))
            except Exception as exc:
                raise BroadcastError(f"Could not send to {self}: {type(exc).__name__}: {exc}") from exc

    def __str__(self) -> str:
        return f"{len(self.groups)} layer group(s) of {self.hub.__qualname__}"

    def __getattr__(self, name: str) -> Any:
        """A client method of the hub's client protocol (``Hub[ChatClient]``): sends it, as :meth:`asend` does."""
        wire, _ = self.hub.client_method(name)
        return lambda *args: self.asend(wire, *args)


class SingleClientProxy:
    """One connection, addressed by connection id: send to it, or invoke it and await its result."""

    __slots__ = ("hub", "connection_id")

    def __init__(self, hub: type[Hub], connection_id: str) -> None:
        self.hub = hub
        self.connection_id = connection_id

    async def asend(self, method: str, *args: Any, on_commit: bool = False, using: str | None = None) -> None:
        """Call client method ``method``; written in order with the connection's own replies when local.

        ``on_commit`` as for :meth:`ClientProxy.asend`. The current sender is not skipped: this names one
        connection on purpose.
        """
        if on_commit:
            send = lambda: run_sync(self._deliver, method, args)  # noqa: E731
            if await aafter_commit(send, using, f"{method!r} to connection {self.connection_id}"):
                return
        await self._deliver(method, args)

    def send(self, method: str, *args: Any, on_commit: bool = False, using: str | None = None) -> None:
        """Sync twin of :meth:`asend`; ``on_commit`` looks at the transaction open in this thread."""
        refuse_in_loop("SingleClientProxy.send", "asend")
        send = lambda: run_sync(self._deliver, method, args)  # noqa: E731
        if on_commit and after_commit(send, using, f"{method!r} to connection {self.connection_id}"):
            return
        send()

    async def _deliver(self, method: str, args: Iterable[Any]) -> None:
        connection = local.find(self.connection_id)
        if connection is not None:
            await connection.send(InvocationMessage(target=method, arguments=list(args)))
            return
        frames = encode_invocation(self.hub, method, args)
        await ClientProxy(self.hub, [names.connection(self.connection_id)])._deliver(frames, [])

    async def aclose(self, reason: str | None = None) -> None:
        """Close the connection with a Close message whose error is ``reason`` (none when ``None``)."""
        connection = local.find(self.connection_id)
        if connection is not None:
            await connection.abort(reason)
            return
        await ClientProxy(self.hub, [names.connection(self.connection_id)])._close(reason, [])

    def close(self, reason: str | None = None) -> None:
        """Sync twin of :meth:`aclose`."""
        refuse_in_loop("SingleClientProxy.close", "aclose")
        run_sync(self.aclose, reason)

    async def invoke(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Invoke ``method`` on the client and return its result (a "client result").

        Raises ``ClientResultError`` with the client's error text (e.g. ``Client didn't provide a result.``)
        and ``TimeoutError`` when no answer comes within ``timeout`` (default ``CLIENT_RESULT_TIMEOUT``).
        """
        if timeout is None:
            timeout = float(hub_option(self.hub, "CLIENT_RESULT_TIMEOUT"))
        async with released_slot():
            connection = local.find(self.connection_id)
            if connection is not None:
                return await connection.invoke_client(method, list(args), timeout=timeout)
            return await self._invoke_remote(method, list(args), timeout)

    async def _invoke_remote(self, method: str, arguments: list[Any], timeout: float) -> Any:
        event = events.invoke(self.connection_id, InvocationMessage(target=method, arguments=arguments), timeout)
        try:
            reply = await lifetime.request(names.connection(self.connection_id), event, timeout=timeout + 1)
        except TimeoutError:
            reply = {"timed_out": True}
        if reply.get("timed_out"):
            raise TimeoutError(f"No result from connection '{self.connection_id}' within {timeout} s.")
        completion = events.unpack(reply["message"])
        assert isinstance(completion, CompletionMessage)
        if completion.error is not None:
            raise ClientResultError(completion.error)
        return completion.result

    def invoke_sync(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Sync twin of :meth:`invoke`; blocks the calling thread for the whole wait."""
        return run_sync(self.invoke, method, *args, timeout=timeout)

    def __getattr__(self, name: str) -> Any:
        """A client method of the hub's client protocol: a client result (:meth:`invoke`) when it returns a value,
        else a send."""
        wire, returns = self.hub.client_method(name)
        if returns:
            return lambda *args: self.invoke(wire, *args)
        return lambda *args: self.asend(wire, *args)


class HubClients(Generic[ClientT]):
    """The targets reachable from outside a hub method (``get_hub_context(Hub).clients``).

    Each target is a proxy with ``send``/``asend`` (and ``invoke`` for one connection); with a typed hub
    (``Hub[ChatClient]``) it also has the client protocol's methods, and type checkers see it as that protocol.
    """

    __slots__ = ("hub", "_name")

    def __init__(self, hub: type[Hub]) -> None:
        self.hub = hub
        self._name = hub.hub_name()

    @property
    def all(self) -> ClientT:
        """Every connection of the hub."""
        return cast(ClientT, ClientProxy(self.hub, [names.hub_all(self._name)]))

    def all_except(self, connection_ids: Iterable[str]) -> ClientT:
        """Every connection of the hub but ``connection_ids``."""
        return cast(ClientT, ClientProxy(self.hub, [names.hub_all(self._name)], connection_ids))

    def client(self, connection_id: str) -> ClientT:
        """One connection (it also has ``invoke``, for client results)."""
        return cast(ClientT, SingleClientProxy(self.hub, connection_id))

    def clients(self, connection_ids: Iterable[str]) -> ClientT:
        """Several connections."""
        return cast(ClientT, ClientProxy(self.hub, [names.connection(cid) for cid in dict.fromkeys(connection_ids)]))

    def group(self, name: str) -> ClientT:
        """The members of group ``name``."""
        return cast(ClientT, ClientProxy(self.hub, [names.group(self._name, name)]))

    def groups(self, group_names: Iterable[str]) -> ClientT:
        """The members of each group (a connection in two groups gets the message twice, as in SignalR)."""
        return cast(ClientT, ClientProxy(self.hub, [names.group(self._name, n) for n in dict.fromkeys(group_names)]))

    def group_except(self, name: str, connection_ids: Iterable[str]) -> ClientT:
        """The members of group ``name`` but ``connection_ids``."""
        return cast(ClientT, ClientProxy(self.hub, [names.group(self._name, name)], connection_ids))

    def user(self, user_id: str) -> ClientT:
        """Every connection of user ``user_id``."""
        return cast(ClientT, ClientProxy(self.hub, [names.user(self._name, str(user_id))]))

    def users(self, user_ids: Iterable[str]) -> ClientT:
        """Every connection of each user."""
        return cast(ClientT, ClientProxy(self.hub, [names.user(self._name, str(u)) for u in dict.fromkeys(user_ids)]))


class HubCallerClients(HubClients[ClientT]):
    """``self.clients`` inside a hub method: :class:`HubClients` plus the caller-relative targets."""

    __slots__ = ("connection_id",)

    def __init__(self, hub: type[Hub], connection_id: str) -> None:
        super().__init__(hub)
        self.connection_id = connection_id

    @property
    def caller(self) -> ClientT:
        """The connection that made the current invocation (it also has ``invoke``, for client results)."""
        return cast(ClientT, SingleClientProxy(self.hub, self.connection_id))

    @property
    def others(self) -> ClientT:
        """Every connection of the hub but the caller."""
        return self.all_except([self.connection_id])

    def others_in_group(self, name: str) -> ClientT:
        """The members of group ``name`` but the caller."""
        return self.group_except(name, [self.connection_id])


async def _answer_invoke(event: events.Event) -> None:
    """Ask a connection of this process for the client result another process wants, and send it back."""
    connection = local.find(event["connection_id"])
    if connection is None:
        return
    message = events.unpack(event["message"])
    assert isinstance(message, InvocationMessage)
    answer: dict[str, Any] = {}
    try:
        result = await connection.invoke_client(message.target, message.arguments, timeout=event["timeout"])
        reply = CompletionMessage.with_result("0", result)
    except (ClientResultError, TimeoutError) as exc:
        reply = CompletionMessage.with_error("0", str(exc) or type(exc).__name__)
        if isinstance(exc, TimeoutError):
            answer["timed_out"] = True  # the caller raises TimeoutError, as for a local connection
    await lifetime.send(event["reply_channel"], events.result(message=events.pack(reply), **answer))


lifetime.route(events.INVOKE, lambda event: loops.services().spawn(_answer_invoke(event)))
