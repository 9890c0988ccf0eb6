"""Views of the SSE test server: a hand-written stream, protected and restricted topics, a session login."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from realtime.auth import JWTQueryAuthentication
from realtime.eventstream import EventStreamView, ServerSentEvent, TopicStreamView, topics
from realtime.permissions import BasePermission, IsAdminUser, IsAuthenticated

OPEN: Counter[str] = Counter()
"""Demo streams whose iterator has started and not yet finished, in this process, by ``?tag=``."""


class Demo(EventStreamView):
    """Every kind of item once, then nothing but heartbeats (``?heartbeat=`` seconds); ``?tag=`` names the
    stream in ``/sse-test/status``, so a test can follow its own stream whatever else is open."""

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        self.heartbeat_interval = float(request.GET.get("heartbeat", "0"))
        return await super().get(request, *args, **kwargs)

    async def events(self, request: HttpRequest) -> AsyncIterator[ServerSentEvent]:
        tag = request.GET.get("tag", "")
        OPEN[tag] += 1
        try:
            yield ServerSentEvent("one\ntwo\r\nthree\rfour", event="lines", id="a1")
            yield ServerSentEvent(comment="just a comment")
            yield ServerSentEvent("héllo ✓ 🎉 日本", id="a2")
            yield ServerSentEvent.json({"user": str(self.user_id)}, event="who")
            yield ServerSentEvent(retry=1500)
            await asyncio.Event().wait()  # until the client goes away
        finally:
            OPEN[tag] -= 1


def status(request: HttpRequest) -> JsonResponse:
    """What this process holds open: demo streams and topic feeds."""
    return JsonResponse(
        {
            "demo": {tag: count for tag, count in OPEN.items() if count},
            "feeds": sorted(topic for feeds in topics._feeds.values() for topic in feeds),
        }
    )


def session_login(request: HttpRequest) -> HttpResponse:
    """Log ``testuser`` in with a session cookie."""
    user, _ = get_user_model().objects.get_or_create(username="testuser")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse("ok")


class OwnTopic(BasePermission):
    """``own-<username>`` topics are their user's."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return view.topic == f"own-{request.user.username}"


class Whoami(APIView):
    """A plain DRF view authenticating with the SSE views' class (header, then ``?access_token=``)."""

    authentication_classes = [JWTQueryAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    def get(self, request: Request) -> Response:
        return Response({"user": request.user.username})


demo = Demo.as_view()
own = TopicStreamView.as_view(permission_classes=[IsAuthenticated & (IsAdminUser | OwnTopic)])
whoami = Whoami.as_view()
private = TopicStreamView.as_view(permission_classes=[IsAuthenticated])
staff = TopicStreamView.as_view(permission_classes=[IsAuthenticated, IsAdminUser])
only_news = TopicStreamView.as_view(topics=["news"])
