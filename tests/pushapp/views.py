"""HTTP endpoints of the push tests (mounted under ``/pushapp/`` by the conformance server)."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from realtime.middleware import connection_id_of

from . import ops
from .models import Order


@csrf_exempt
@require_POST
def run_op(request: HttpRequest) -> JsonResponse:
    """Run one :mod:`tests.pushapp.ops` operation; broadcasts skip the ``X-Realtime-Connection-Id`` sender."""
    return JsonResponse(ops.run(json.loads(request.body)))


@csrf_exempt
@require_POST
async def run_async_op(request: HttpRequest) -> JsonResponse:
    """Run one :func:`tests.pushapp.ops.arun` operation in an async view (same header rule)."""
    return JsonResponse(await ops.arun(json.loads(request.body)))


@require_GET
def order(request: HttpRequest, pk: int) -> HttpResponse:
    """The order as another database connection sees it now (404 until its transaction committed)."""
    found = Order.objects.filter(pk=pk).values("id", "name", "status").first()
    return JsonResponse(found) if found else HttpResponse(status=404)


@csrf_exempt
@require_POST
def start_task(request: HttpRequest, name: str) -> JsonResponse:
    """Queue Celery task ``name`` of :mod:`tests.pushapp.tasks` for the requesting connection."""
    from . import tasks

    kwargs = json.loads(request.body or b"{}")
    if name == "progress":
        kwargs.setdefault("connection_id", connection_id_of(request))
    result = getattr(tasks, name).delay(**kwargs)
    return JsonResponse({"taskId": result.id}, status=202)
