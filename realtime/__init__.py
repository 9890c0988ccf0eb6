"""django-realtime-hubs: SignalR-compatible hubs for Django.

Public import paths:

- ``realtime.hubs``: ``Hub``, ``hub_method``
- ``realtime.context``: ``get_hub_context``
- ``realtime.routing``: ``hub_routes``
- ``realtime.exceptions``: ``HubError`` and the error hierarchy
- ``realtime.presence``: ``HubPresence``, ``PresenceEntry``, ``PresenceError``, ``presence()``
- ``realtime.testing``: ``HubCommunicator``
- ``realtime.protocol``: the sans-IO wire format
"""

__version__ = "0.1.0"
