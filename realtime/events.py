"""Every message ``realtime`` sends over the channel layer, built here and only here.

A message is a dict whose ``type`` is one of the kinds below. The process channel that receives it hands it
to the handler the owning module registered for that kind (``lifetime.route``): frames and aborts to the
connection table, client results to ``clients``, group changes to ``groups``, POST bodies, polls and
deletes to the HTTP transports, relayed sockets of stateful connections to ``transports.relay``, topic events
to the event streams. A request carries ``reply_channel`` (added
by ``lifetime``); its answer is a :func:`result`. Hub messages that cross the layer inside a message are packed
with MessagePack, which keeps bytes and datetimes intact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .protocol.base import Frame
from .protocol.messages import CompletionMessage, HubMessage, InvocationMessage
from .protocol.msgpack import MessagePackHubProtocol

Event = dict[str, Any]

FRAME = "realtime.frame"
"""Finished frames for the local members of layer ``group`` (minus ``exclude``)."""
INVOKE = "realtime.invoke"
"""Ask the owner of ``connection_id`` for a client result (``message``: the packed invocation)."""
RESULT = "realtime.result"
"""The answer to a request."""
GROUP = "realtime.group"
"""Ask the owner of ``connection_id`` to add it to (``add``) or remove it from hub group ``name`` (``None``: from
every group); an addition may last ``until`` a UNIX time."""
CLOSE = "realtime.close"
"""Close the local members of layer ``group`` (minus ``exclude``) with a Close message carrying ``reason``."""
TRANSPORT_DATA = "realtime.transport.data"
"""A POST body for the owner of the HTTP connection ``token``: acknowledged at once (``ack``), answered with
``status`` once the owner took it in."""
POLL = "realtime.poll"
"""A long poll for the owner of ``token``; answered with ``status`` and ``body``."""
DELETE = "realtime.delete"
"""End the long-polling connection ``token``; answered with ``status``."""
TOPIC = "realtime.topic"
"""An event published to ``topic`` (layer ``group``): its ``id``, ``event`` type and ``data``; captured changes
also say the id of the ``prev`` change sent to the topic and the ``users`` who may receive it (absent: all)."""
CAPTURE = "realtime.capture"
"""Captured database changes (``realtime.capture``) for the local members of layer ``group``: ``changes``, in
commit order, each ``[id, users, frames]``: the event id (a process drops an id it has delivered to that group
already), who may receive it (``None``: every member) and its frame per hub protocol."""
PROBE = "realtime.probe"
"""A process's numbered message to itself through a layer group (``seq``): a gap shows lost messages."""
RELAY_ATTACH = "realtime.relay.attach"
"""Ask the owner of the stateful connection ``token`` to go on over ``socket``, a WebSocket that process ``relay``
holds; answered with ``ok``."""
RELAY_IN = "realtime.relay.in"
"""Bytes the client sent on relayed ``socket`` of connection ``token``, for its owner (in order)."""
RELAY_LOST = "realtime.relay.lost"
"""Relayed ``socket`` of connection ``token`` ended (``error``: not cleanly)."""
RELAY_OUT = "realtime.relay.out"
"""For the process holding relayed ``socket``: a ``frame`` to write, or ``close`` it."""

_wire = MessagePackHubProtocol(max_message_size=None)


def frame(group: str, frames: Mapping[str, Frame], exclude: list[str], log: str = "") -> Event:
    """Deliver ``frames`` (one per hub protocol) to the members of ``group`` but ``exclude``; ``log``: the entry of
    the send in the durable log of stateful reconnect, when there is one."""
    event: Event = {"type": FRAME, "group": group, "frames": frames}
    if exclude:
        event["exclude"] = exclude
    if log:
        event["log"] = log
    return event


CapturedChange = tuple[int, list[str] | None, Mapping[str, Frame]]
"""One captured change for a group: event id, who may receive it (``None``: every member), frame per protocol."""


def capture(group: str, changes: list[CapturedChange]) -> Event:
    """Deliver captured ``changes`` (in commit order) to the members of ``group``."""
    return {"type": CAPTURE, "group": group, "changes": [list(change) for change in changes]}


def invoke(connection_id: str, message: InvocationMessage, timeout: float) -> Event:
    """Ask for a client result of ``connection_id`` within ``timeout`` seconds."""
    return {"type": INVOKE, "connection_id": connection_id, "message": pack(message), "timeout": timeout}


def group_change(
    connection_id: str,
    name: str | None,
    *,
    add: bool,
    metadata: Mapping[str, Any] | None = None,
    until: float | None = None,
) -> Event:
    """Add ``connection_id`` to (or remove it from) hub group ``name``, with presence ``metadata``, ``until`` a
    UNIX time; ``name`` ``None`` removes it from every group."""
    event: Event = {"type": GROUP, "connection_id": connection_id, "name": name, "add": add}
    if metadata:
        event["metadata"] = dict(metadata)
    if until is not None:
        event["until"] = until
    return event


def close(group: str, reason: str | None, exclude: list[str]) -> Event:
    """Close the members of ``group`` but ``exclude``, telling them ``reason``."""
    event: Event = {"type": CLOSE, "group": group, "reason": reason}
    if exclude:
        event["exclude"] = exclude
    return event


def transport_data(token: str, data: bytes) -> Event:
    """A POST body for the owner of ``token``."""
    return {"type": TRANSPORT_DATA, "token": token, "data": data}


def poll(token: str, timeout: float) -> Event:
    """A long poll for the owner of ``token``, answered within ``timeout`` seconds."""
    return {"type": POLL, "token": token, "timeout": timeout}


def delete(token: str) -> Event:
    """End the long-polling connection ``token``."""
    return {"type": DELETE, "token": token}


TopicItem = tuple[int, str | None, str, list[str] | None]
"""One event of a ``TOPIC`` message: id, SSE type, JSON data, who may receive it (``None``: everyone)."""


def topic(name: str, group: str, items: list[TopicItem], *, prev: int | None = None) -> Event:
    """Events of topic ``name`` in id order, for the processes in ``group`` (``prev``: the id of the topic's
    event before the first one, when not ``id - 1``; each later one follows the one before it)."""
    found: Event = {"type": TOPIC, "topic": name, "group": group, "items": items}
    if prev is not None:
        found["prev"] = prev
    return found


def relay_attach(token: str, relay: str, socket: str) -> Event:
    """Ask the owner of ``token`` to take ``socket`` (held by process channel ``relay``) as its transport."""
    return {"type": RELAY_ATTACH, "token": token, "relay": relay, "socket": socket}


def relay_in(token: str, socket: str, data: Frame) -> Event:
    """What the client sent on relayed ``socket``."""
    return {"type": RELAY_IN, "token": token, "socket": socket, "data": data}


def relay_lost(token: str, socket: str, *, error: bool) -> Event:
    """Relayed ``socket`` ended."""
    return {"type": RELAY_LOST, "token": token, "socket": socket, "error": error}


def relay_out(socket: str, frame: Frame | None) -> Event:
    """Write ``frame`` to relayed ``socket``, or close it (``frame`` ``None``)."""
    return {"type": RELAY_OUT, "socket": socket, "frame": frame}


def probe(seq: int) -> Event:
    """Probe number ``seq``."""
    return {"type": PROBE, "seq": seq}


def result(**fields: Any) -> Event:
    """The answer to a request."""
    return {"type": RESULT, **fields}


def pack(message: InvocationMessage | CompletionMessage) -> bytes:
    """Encode a hub message for a trip inside a layer message."""
    return bytes(_wire.write(message))


def unpack(data: bytes) -> HubMessage:
    """Decode what :func:`pack` encoded."""
    (message,) = _wire.decoder().feed(data)
    return message
