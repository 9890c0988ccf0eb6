"""Keep secrets out of logs: access tokens and connection tokens travel in query strings.

Browsers send the JWT as ``?access_token=`` on WebSocket and EventSource requests, and every transport
request carries the secret connection token as ``?id=``. :class:`MaskTokensFilter` masks both in log
records; :func:`install` attaches it to the ``realtime`` logger and to the access loggers of the servers
``realtime`` runs under (uvicorn's ``uvicorn.access``, Django's ``django.request`` and
``django.channels.server``) and masks Daphne's access log, which is written to a stream rather than
through ``logging``. ``RealtimeConfig.ready()`` calls it unless ``REALTIME["MASK_TOKENS_IN_LOGS"]`` is
``False``. What stays outside the app's reach: logs of proxies in front of the server (mask or drop the
query string there, e.g. nginx ``log_format`` with ``$uri`` instead of ``$request_uri``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

SECRET_QUERY = re.compile(r"(?i)(\b(?:access_token|id)=)[^&\s\"']+")
MASK = "***"
LOGGERS = ("realtime", "uvicorn.access", "uvicorn.error", "django.request", "django.channels.server", "daphne")


def mask(text: str) -> str:
    """``text`` with the values of ``access_token=`` and ``id=`` query parameters replaced by ``***``."""
    return SECRET_QUERY.sub(rf"\g<1>{MASK}", text)


class MaskTokensFilter(logging.Filter):
    """A logging filter that masks tokens in the formatted message of every record it sees.

    String arguments are masked in place, so formatters that read ``record.args`` (uvicorn's access log
    unpacks its five) still get them; a token left in the message (in ``msg``, or in an argument that is
    not a string) masks the whole formatted message instead.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask(arg) if isinstance(arg, str) else arg for arg in record.args)
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_installed = False


def install() -> None:
    """Mask tokens in the loggers above and in Daphne's access log (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    token_filter = MaskTokensFilter()
    for name in LOGGERS:
        logging.getLogger(name).addFilter(token_filter)
    _mask_daphne_access_log()


def _mask_daphne_access_log() -> None:
    try:
        from daphne.access import AccessLogGenerator
    except ImportError:
        return
    original = AccessLogGenerator.write_entry

    def write_entry(self: Any, host: Any, date: Any, request: str, *args: Any, **kwargs: Any) -> Any:
        return original(self, host, date, mask(request), *args, **kwargs)

    AccessLogGenerator.write_entry = write_entry  # type: ignore[method-assign]
