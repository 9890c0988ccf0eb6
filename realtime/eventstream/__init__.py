"""Event streams: Server-Sent Events views for a plain ``EventSource``, and topics with replay.

Streams: :class:`EventStreamResponse` writes the :class:`ServerSentEvent` items of an async iterator as a
``text/event-stream`` (headers that keep proxies from buffering, a first chunk at once, a comment after
``SSE_HEARTBEAT_INTERVAL`` seconds of silence). It is an async ``StreamingHttpResponse``: under an ASGI
server Django cancels it as soon as the client goes away, so the iterator's ``finally`` runs at once.
:class:`EventStreamView` adds hub-style authentication and permission classes.

Topics: :func:`apublish` / :func:`publish` and :class:`TopicStreamView`.

Theory of operation (topics). Publishing appends the event to the topic's history (:mod:`.history`, which
assigns its id) and then sends it once over the channel layer to the group ``names.topic(topic)``.
Each process that streams a topic has one *feed* for it: its process channel is in that group
(``ProcessChannel.join``) and the feed hands each event, encoded once, to the open streams of the topic
in this process, in id order. Layer messages of two publishers can cross, or be lost; ids are
consecutive, so the feed notices a gap and reads the missing events from the history first. A new
stream registers with the feed, *then* reads the history after its ``Last-Event-ID``, then drops what
the feed gave it meanwhile with an id it replayed: nothing lost, nothing twice. A stream whose client
reads too slowly (``MAX_OUTBOUND_BYTES`` waiting) is ended; the client reconnects and replays the rest.
When the id is older than the history keeps, or unknown, the stream starts with a ``stream-reset``
event instead (:data:`RESET_EVENT`) so the page can refetch its state.

Modules: :mod:`.response` (events and the streaming response), :mod:`.views` (the views and their
authentication), :mod:`.topics` (publishing and subscribing), :mod:`.history` (ids and replay).
"""

from __future__ import annotations

from .response import EventStreamResponse, ServerSentEvent
from .topics import RESET_EVENT, EventTooLarge, TopicError, apublish, publish, subscribe
from .views import LAST_EVENT_ID_PARAM, EventStreamView, TopicStreamView

__all__ = [
    "LAST_EVENT_ID_PARAM",
    "RESET_EVENT",
    "EventStreamResponse",
    "EventStreamView",
    "EventTooLarge",
    "ServerSentEvent",
    "TopicError",
    "TopicStreamView",
    "apublish",
    "publish",
    "subscribe",
]
