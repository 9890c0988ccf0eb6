"""The views: :class:`EventStreamView` (any events, with DRF authentication and permissions) and
:class:`TopicStreamView` (one topic, with replay after ``Last-Event-ID``)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any, ClassVar

from channels.db import database_sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views import View
from rest_framework.exceptions import APIException
from rest_framework.request import Request

from ..conf import realtime_settings
from ..permissions import allowed, check_permissions
from .response import WSGI_ERROR, EventStreamResponse, ServerSentEvent
from .topics import check_topic, subscribe

logger = logging.getLogger("realtime.eventstream")

LAST_EVENT_ID_PARAM = "lastEventId"
"""Query parameter standing in for the ``Last-Event-ID`` header (the header wins)."""
_EVENT_ID = re.compile(r"[0-9]{1,18}")


class EventStreamView(View):
    """Base class of SSE views: DRF authentication and permission classes, then :meth:`events`.

    Override :meth:`events` (an async generator of :class:`ServerSentEvent`)::

        class Clock(EventStreamView):
            permission_classes = [IsAuthenticated]

            async def events(self, request):
                while True:
                    yield ServerSentEvent(datetime.now().isoformat(), event="tick")
                    await asyncio.sleep(1)

    ``authentication_classes`` are asked in order, as in a DRF view (by default a JWT from the
    ``Authorization`` header or ``?access_token=``, then the session user); credentials they reject make the
    request anonymous. ``permission_classes`` then get DRF's ``Request`` and this view (``self.kwargs`` holds
    the URL arguments). A refused request gets 401 (anonymous; with ``WWW-Authenticate`` when the first
    authentication class names a scheme) or 403 (authenticated) with an empty body.
    """

    http_method_names = ["get", "options"]
    authentication_classes: ClassVar[list[type] | None] = None
    """DRF authentication classes; ``None``: ``REALTIME["SSE_AUTHENTICATION_CLASSES"]``."""
    permission_classes: ClassVar[list[Any] | None] = None
    """DRF permission classes; ``None``: ``REALTIME["DEFAULT_PERMISSION_CLASSES"]``."""
    heartbeat_interval: float | None = None
    """``None``: ``REALTIME["SSE_HEARTBEAT_INTERVAL"]``."""
    retry_ms: int | None = None
    """``None``: ``REALTIME["SSE_RETRY_MS"]``."""

    user: Any = None
    user_id: str | None = None
    auth: Any = None
    """What the authentication class that succeeded returned with the user (simplejwt's validated token)."""

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """Django's ``as_view``; permission classes of the former signature are refused here, naming the view."""
        permissions = initkwargs.get("permission_classes", cls.permission_classes)
        if permissions is not None:
            check_permissions(permissions, f"{cls.__qualname__}.permission_classes")
        return super().as_view(**initkwargs)

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Authorize, then stream :meth:`events`."""
        refusal = await self.authorize(request)
        if refusal is not None:
            return refusal
        return self.stream(self.events(request, *args, **kwargs))

    async def authorize(self, request: HttpRequest) -> HttpResponse | None:
        """Authenticate (``self.user``, ``self.user_id``, ``self.auth``) and check the permission classes; a
        refusal or ``None``.

        Raises ``ImproperlyConfigured`` outside an ASGI server.
        """
        if not hasattr(request, "scope"):
            raise ImproperlyConfigured(WSGI_ERROR)
        authenticated = Request(request, authenticators=[cls() for cls in self.get_authentication_classes()])
        await database_sync_to_async(self._authenticate)(authenticated)
        if await allowed(self.get_permission_classes(), authenticated, self):
            return None
        if getattr(self.user, "is_authenticated", False):
            return HttpResponse(status=403)
        refusal = HttpResponse(status=401)
        if authenticated.authenticators:
            challenge = authenticated.authenticators[0].authenticate_header(authenticated)
            if challenge:
                refusal["WWW-Authenticate"] = challenge
        return refusal

    def _authenticate(self, request: Request) -> None:
        """Run the authentication classes (in a worker thread: they may use the database)."""
        try:
            self.user, self.auth = request.user, request.auth
        except APIException as exc:  # rejected credentials: anonymous, as for hubs
            detail = exc.detail.get("detail", exc.detail) if isinstance(exc.detail, dict) else exc.detail
            logger.info("realtime: rejected the credentials of a request to %s: %s", request.path, detail)
            self.user, self.auth = request.user, None
        self.user_id = realtime_settings.USER_ID_PROVIDER(self.user)

    def get_authentication_classes(self) -> list[type]:
        """This view's authentication classes (``SSE_AUTHENTICATION_CLASSES`` unless set)."""
        classes = self.authentication_classes
        return list(realtime_settings.SSE_AUTHENTICATION_CLASSES if classes is None else classes)

    def get_permission_classes(self) -> list[Any]:
        """This view's permission classes (``DEFAULT_PERMISSION_CLASSES`` unless set)."""
        classes = self.permission_classes
        return list(realtime_settings.DEFAULT_PERMISSION_CLASSES if classes is None else classes)

    def stream(self, events: AsyncIterable[ServerSentEvent | bytes | str], heartbeat: float | None = None) -> Any:
        """An :class:`EventStreamResponse` of ``events`` with this view's heartbeat and retry."""
        beat = self.heartbeat_interval if heartbeat is None else heartbeat
        return EventStreamResponse(events, heartbeat=beat, retry=self.retry_ms)

    def events(self, request: HttpRequest, *args: Any, **kwargs: Any) -> AsyncIterator[ServerSentEvent]:
        """The events to stream: override it with an async generator of :class:`ServerSentEvent` items."""
        raise ImproperlyConfigured(
            f"{type(self).__name__} must define events(self, request, ...): an async generator of ServerSentEvent."
        )


def parse_event_id(value: str | None) -> int | None:
    """A ``Last-Event-ID`` as an int (``None`` when absent or empty); ``ValueError`` when malformed."""
    if not value:
        return None
    if _EVENT_ID.fullmatch(value) is None:
        raise ValueError(f"Malformed Last-Event-ID {value[:40]!r}: event ids of this stream are decimal integers.")
    return int(value)


class TopicStreamView(EventStreamView):
    """``GET``: the SSE stream of one topic (the URL argument ``topic``), with replay after ``Last-Event-ID``.

    ``urls.py``::

        path("sse/<str:topic>", TopicStreamView.as_view())
        path("news", TopicStreamView.as_view(topic="news", permission_classes=[IsAuthenticated]))

    Answers 400 for a topic name ``SSE_TOPIC_PATTERN`` refuses or a malformed ``Last-Event-ID`` (header,
    or ``?lastEventId=``), 404 for a topic ``topics`` does not list, 401/403 from the permission classes.
    """

    topic: str | None = None
    """A fixed topic (else the URL argument ``topic``)."""
    topics: Iterable[str] | Callable[[str], bool] | None = None
    """The topics this view streams: names, or a predicate; ``None``: any allowed name."""

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Check the topic and the ``Last-Event-ID``, authorize, then stream."""
        if not hasattr(request, "scope"):
            raise ImproperlyConfigured(WSGI_ERROR)
        topic = self.topic or kwargs.get("topic")
        try:
            check_topic(topic)
            last = request.headers.get("Last-Event-ID") or request.GET.get(LAST_EVENT_ID_PARAM)
            last_event_id = parse_event_id(last)
        except ValueError as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
        assert topic is not None
        if not self.streams(topic):
            return HttpResponse(f"Unknown topic {topic!r}.", status=404, content_type="text/plain; charset=utf-8")
        self.topic = topic
        refusal = await self.authorize(request)
        if refusal is not None:
            return refusal
        try:
            events = await subscribe(topic, last_event_id, heartbeat=self.heartbeat_interval, user=self.user_id)
        except Exception:
            logger.exception("realtime: subscribing to SSE topic %r failed", topic)
            return HttpResponse("The event history is unavailable.", status=503, content_type="text/plain")
        return self.stream(events, heartbeat=0)  # the topic stream sends its own heartbeats

    def streams(self, topic: str) -> bool:
        """Whether this view serves ``topic`` (``topics``)."""
        if self.topics is None:
            return True
        if callable(self.topics):
            return bool(self.topics(topic))
        return topic in self.topics
