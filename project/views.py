from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from realtime.context import get_hub_context

from .hubs import ChatHub


def index(request: HttpRequest) -> HttpResponse:
    """The chat page."""
    return render(request, "index.html")


@require_POST
def announce(request: HttpRequest) -> JsonResponse:
    """Push to every chat client from an ordinary (sync) view."""
    text = request.POST.get("text", "").strip()[:200] or "Hello from a Django view"
    get_hub_context(ChatHub).clients.all.send("Notice", f"announcement: {text}")
    return JsonResponse({"sent": text})
