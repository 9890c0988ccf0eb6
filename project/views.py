import asyncio
import functools
import importlib.util
import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from realtime import connection_id_of, get_hub_context, publish, request_user

from .hubs import ChatHub
from .models import Item

ACTIVITY = "activity"
"""The SSE topic of the activity feed (``/events/activity``): what the views below did, as plain events."""


def tell(text: str) -> None:
    """Publish a line to the activity feed."""
    publish(ACTIVITY, {"text": text, "at": timezone.now()}, event="activity")


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """The view answers 401 unless the request carries the page's JWT (``Authorization: Bearer``), which the
    hub also requires; ``realtime.auth.request_user`` authenticates it the way hubs do."""

    def refusal(user: Any) -> JsonResponse | None:
        if getattr(user, "is_authenticated", False):
            return None
        return JsonResponse({"error": "Sign in first."}, status=401)

    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user, _ = await request_user(request)
            return refusal(user) or await view(request, *args, **kwargs)

        return async_wrapper

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user, _ = async_to_sync(request_user)(request)
        return refusal(user) or view(request, *args, **kwargs)

    return wrapper


def index(request: HttpRequest) -> HttpResponse:
    """The demo page (it signs in with a JWT and connects to the chat hub from JavaScript); the Celery panel
    shows when Celery is installed (``scripts/demo`` installs the ``celery`` extra)."""
    return render(request, "index.html", {"has_celery": importlib.util.find_spec("celery") is not None})


@require_POST
@signed_in
def announce(request: HttpRequest) -> JsonResponse:
    """Push to every chat client from an ordinary (sync) view; the page calls it with ``connection.fetch``."""
    text = request.POST.get("text", "").strip()[:200] or "Hello from a Django view"
    get_hub_context(ChatHub).clients.all.send("Notice", f"announcement: {text}")
    tell(f"Announced: {text}")
    return JsonResponse({"sent": text})


# --- the shared list: plain views; broadcast_model (apps.py) tells the other pages ----------------------


@require_GET
def items(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"items": [item.as_json() for item in Item.objects.all()]})


@require_POST
@signed_in
def add_item(request: HttpRequest) -> JsonResponse:
    title = request.POST.get("title", "").strip()[:100]
    if not title:
        return JsonResponse({"error": "A title, please."}, status=400)
    item = Item.objects.create(title=title)
    tell(f"Added “{title}” to the list")
    return JsonResponse(item.as_json(), status=201)


@require_POST
@signed_in
def toggle_item(request: HttpRequest, pk: int) -> JsonResponse:
    item = get_object_or_404(Item, pk=pk)
    item.done = not item.done
    item.save(update_fields=["done"])
    tell(f"{'Checked' if item.done else 'Unchecked'} “{item.title}”")
    return JsonResponse(item.as_json())


@require_POST
@signed_in
def delete_item(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=pk)
    item.delete()
    tell(f"Deleted “{item.title}”")
    return HttpResponse(status=204)


# --- a Celery task with a progress bar ------------------------------------------------------------------

_running: set[asyncio.Future] = set()


@require_POST
@signed_in
async def start_report(request: HttpRequest) -> JsonResponse:
    """Start ``build_report`` for the calling page (its connection id comes with ``connection.fetch``).

    With a broker, a Celery worker runs it. Without one, it runs here, in a thread: its sync pushes then
    go through this server's event loop and in-memory channel layer.
    """
    from .tasks import build_report

    connection_id = connection_id_of(request)
    if connection_id is None:
        return HttpResponseBadRequest("Call this with connection.fetch() (it sends X-Realtime-Connection-Id).")
    if settings.CELERY_BROKER_URL:
        from .celery import app  # noqa: F401  (configures Celery for the broker)

        result = await sync_to_async(build_report.delay)(connection_id)
        return JsonResponse({"taskId": result.id, "runner": "celery worker"}, status=202)
    task_id = str(uuid.uuid4())
    apply = sync_to_async(build_report.apply, thread_sensitive=False)
    run = asyncio.ensure_future(apply((connection_id,), task_id=task_id))
    _running.add(run)  # a strong reference until it ends
    run.add_done_callback(_running.discard)
    return JsonResponse({"taskId": task_id, "runner": "thread"}, status=202)
