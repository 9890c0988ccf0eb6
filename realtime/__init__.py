"""django-realtime-hubs: SignalR-compatible hubs for Django.

Everything an application imports comes from here (``from realtime import Hub, get_hub_context``). The
names are loaded on first use, so ``import realtime`` needs no configured settings (``INSTALLED_APPS``
loads it early). Internals live in submodules; ``realtime.protocol`` is the sans-IO wire format.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # hubs
    "Hub": "realtime.hubs",
    "hub_method": "realtime.hubs",
    "HubFilter": "realtime.filters",
    "InvocationContext": "realtime.filters",
    # routes and raw endpoints
    "HubRouter": "realtime.routing",
    "hub_routes": "realtime.routing",
    "connection_routes": "realtime.routing",
    "ConnectionHandler": "realtime.endpoints",
    # pushing from anywhere
    "get_hub_context": "realtime.context",
    "sender": "realtime.clients",
    "Client": "realtime.clients",
    "broadcast_model": "realtime.model_events",
    "broadcasters_for": "realtime.model_events",
    "ModelBroadcaster": "realtime.model_events",
    "capture_model": "realtime.capture.registration",
    "InstallCapture": "realtime.capture.operations",
    "replay_to_caller": "realtime.capture.replay",
    "ConnectionIdMiddleware": "realtime.middleware",
    "connection_id_of": "realtime.middleware",
    "report_progress": "realtime.celery",
    "areport_progress": "realtime.celery",
    "api_routes": "realtime.push_api",
    # authentication
    "JWTAuthMiddleware": "realtime.auth",
    "JWTAuthMiddlewareStack": "realtime.auth",
    "JWTQueryAuthentication": "realtime.auth",
    "SessionAuthMiddlewareStack": "realtime.auth",
    "request_user": "realtime.auth",
    "ConnectionRequest": "realtime.permissions",
    # event streams (Server-Sent Events views)
    "EventStreamResponse": "realtime.eventstream",
    "EventStreamView": "realtime.eventstream",
    "ServerSentEvent": "realtime.eventstream",
    "TopicStreamView": "realtime.eventstream",
    "publish": "realtime.eventstream",
    "apublish": "realtime.eventstream",
    # presence values
    "PresenceEntry": "realtime.presence",
    "PresenceUser": "realtime.presence",
    # errors
    "RealtimeError": "realtime.exceptions",
    "HubError": "realtime.exceptions",
    "ClientResultError": "realtime.exceptions",
    "GroupError": "realtime.exceptions",
    "BroadcastError": "realtime.exceptions",
    "PresenceError": "realtime.presence",
    # testing
    "HubCommunicator": "realtime.testing",
}

__all__ = [
    "__version__",
    "BroadcastError",
    "Client",
    "ClientResultError",
    "ConnectionHandler",
    "ConnectionIdMiddleware",
    "ConnectionRequest",
    "EventStreamResponse",
    "EventStreamView",
    "GroupError",
    "Hub",
    "HubCommunicator",
    "HubError",
    "HubFilter",
    "InstallCapture",
    "InvocationContext",
    "JWTAuthMiddleware",
    "JWTAuthMiddlewareStack",
    "JWTQueryAuthentication",
    "ModelBroadcaster",
    "PresenceEntry",
    "PresenceError",
    "PresenceUser",
    "RealtimeError",
    "ServerSentEvent",
    "SessionAuthMiddlewareStack",
    "TopicStreamView",
    "api_routes",
    "apublish",
    "areport_progress",
    "broadcast_model",
    "broadcasters_for",
    "capture_model",
    "connection_id_of",
    "connection_routes",
    "get_hub_context",
    "hub_method",
    "HubRouter",
    "hub_routes",
    "publish",
    "replay_to_caller",
    "report_progress",
    "request_user",
    "sender",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'realtime' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # what type checkers and editors see
    from realtime.auth import (
        JWTAuthMiddleware,
        JWTAuthMiddlewareStack,
        JWTQueryAuthentication,
        SessionAuthMiddlewareStack,
        request_user,
    )
    from realtime.capture.operations import InstallCapture
    from realtime.capture.registration import capture_model
    from realtime.capture.replay import replay_to_caller
    from realtime.celery import areport_progress, report_progress
    from realtime.clients import Client, sender
    from realtime.context import get_hub_context
    from realtime.endpoints import ConnectionHandler
    from realtime.eventstream import (
        EventStreamResponse,
        EventStreamView,
        ServerSentEvent,
        TopicStreamView,
        apublish,
        publish,
    )
    from realtime.exceptions import BroadcastError, ClientResultError, GroupError, HubError, RealtimeError
    from realtime.filters import HubFilter, InvocationContext
    from realtime.hubs import Hub, hub_method
    from realtime.middleware import ConnectionIdMiddleware, connection_id_of
    from realtime.model_events import ModelBroadcaster, broadcast_model, broadcasters_for
    from realtime.permissions import ConnectionRequest
    from realtime.presence import PresenceEntry, PresenceError, PresenceUser
    from realtime.push_api import api_routes
    from realtime.routing import HubRouter, connection_routes, hub_routes
    from realtime.testing import HubCommunicator
