"""Django system checks for ``realtime`` (ids ``realtime.E0xx`` / ``realtime.W0xx``), registered on import.

:mod:`.configuration`: the channel layer, the ASGI application and the ``REALTIME`` settings;
:mod:`.hubs`: hub methods that clients cannot reach; :mod:`.push_api`: the push API's keys; :mod:`.capture`:
change capture; :mod:`.deploy`: what ``check --deploy`` adds.
"""

from __future__ import annotations

from . import capture, configuration, deploy, hubs, push_api
from .hubs import HUBS_MODULE, known_hubs

__all__ = ["HUBS_MODULE", "capture", "configuration", "deploy", "hubs", "known_hubs", "push_api"]
