"""Plain HTTP endpoints of the conformance server."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from realtime.context import get_hub_context
from realtime.eventstream import EventTooLarge, TopicStreamView, apublish
from realtime.exceptions import ClientResultError

from .hubs import ChatHub, TestHub

_redirects = itertools.count()


@require_GET
def generate_jwt_token(request: HttpRequest) -> HttpResponse:
    """A simplejwt access token for ``?user=`` (default ``testuser``), valid ``?seconds=`` (default 300)."""
    from rest_framework_simplejwt.tokens import AccessToken

    user, _ = get_user_model().objects.get_or_create(username=request.GET.get("user", "testuser"))
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=int(request.GET.get("seconds", 300))))
    return HttpResponse(str(token), content_type="text/plain")


@csrf_exempt
@require_POST
def session_login(request: HttpRequest) -> HttpResponse:
    """Sign ``?user=`` (default ``sessionuser``) in with a Django session, as a site's login view does (no
    ``SessionMiddleware`` here: the session is made by hand), and set its cookie."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import login

    user, _ = get_user_model().objects.get_or_create(username=request.GET.get("user", "sessionuser"))
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session.save()
    response = JsonResponse({"cookie": f"{settings.SESSION_COOKIE_NAME}={request.session.session_key}"})
    response.set_cookie(settings.SESSION_COOKIE_NAME, request.session.session_key)
    return response


async def client_result(request: HttpRequest, connection_id: str) -> HttpResponse:
    """Ask the connection's ``Result`` handler for an int and answer with it (or the error text)."""
    try:
        value = await get_hub_context(TestHub).clients.client(connection_id).invoke("Result", timeout=10)
    except (ClientResultError, TimeoutError) as exc:
        return HttpResponse(str(exc), content_type="text/plain")
    return HttpResponse(str(value), content_type="text/plain")


@csrf_exempt
@require_POST
def redirect_negotiate(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Send the client on to ``/testHub`` with a growing ``numRedirects``."""
    url = f"{request.scheme}://{request.get_host()}/testHub?numRedirects={next(_redirects)}"
    return JsonResponse({"url": url})


def _push(request: HttpRequest, clients: Any) -> HttpResponse:
    """``ReceiveMessage("server", message)`` to ``clients`` from sync view code; 202 once sent."""
    try:
        message = json.loads(request.body or b"{}").get("message")
    except (ValueError, AttributeError):
        message = None
    if not isinstance(message, str):
        return HttpResponseBadRequest('Send a JSON body {"message": "..."}.')
    clients.send("ReceiveMessage", "server", message)
    return HttpResponse(status=202)


@csrf_exempt
@require_POST
def push_group(request: HttpRequest, group: str) -> HttpResponse:
    """Push to a ChatHub group."""
    return _push(request, get_hub_context(ChatHub).clients.group(group))


@csrf_exempt
@require_POST
def push_all(request: HttpRequest) -> HttpResponse:
    """Push to every ChatHub connection."""
    return _push(request, get_hub_context(ChatHub).clients.all)


@csrf_exempt
@require_POST
def push_user(request: HttpRequest, user: str) -> HttpResponse:
    """Push to every ChatHub connection of a user."""
    return _push(request, get_hub_context(ChatHub).clients.user(user))


_topic_stream = TopicStreamView.as_view()


@csrf_exempt
async def sse_topic(request: HttpRequest, topic: str) -> HttpResponse:
    """``GET``: the topic's event stream (``Last-Event-ID`` replay); ``POST {"event", "data"}``: publish, 202 + id."""
    if request.method != "POST":
        return await _topic_stream(request, topic=topic)
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict) or "data" not in body or not isinstance(body.get("event"), str | None):
        return HttpResponseBadRequest('Send a JSON body {"event": str or null, "data": any}.')
    try:
        event_id = await apublish(topic, body["data"], body.get("event"))
    except EventTooLarge as exc:
        return HttpResponse(str(exc), status=413, content_type="text/plain")
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    return JsonResponse({"id": event_id}, status=202)
