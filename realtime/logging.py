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
from collections.abc import Mapping
from typing import Any

SECRET_QUERY = re.compile(r"(?i)(\b(?:access_token|id)=)[^&\s\"']+")
SECRET_QUERY_BYTES = re.compile(SECRET_QUERY.pattern.encode())
# A format string's text that ends inside a secret value: the next placeholder's argument continues it.
SECRET_OPEN_AT_END = re.compile(r"(?i)\b(?:access_token|id)=[^&\s\"']*$")
# A ``%`` conversion: ``%(key)`` (mapping args), flags, width, precision, length modifier, type.
PLACEHOLDER = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?[hlL]?(?P<type>.?)"
)
MASK = "***"
LOGGERS = ("realtime", "uvicorn.access", "uvicorn.error", "django.request", "django.channels.server", "daphne")


def mask(text: str) -> str:
    """``text`` with the values of ``access_token=`` and ``id=`` query parameters replaced by ``***``."""
    return SECRET_QUERY.sub(rf"\g<1>{MASK}", text)


def _mask_value(value: Any) -> Any:
    """``value`` masked if it is text (``str`` or ``bytes``, keeping its type); any other object as is."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, bytes):
        return SECRET_QUERY_BYTES.sub(rb"\g<1>" + MASK.encode(), value)
    return value


def _mask_format(msg: str) -> tuple[str, set[int | str]]:
    """``msg`` as a ``%`` format string with its text masked and its placeholders kept, and the positions
    (or mapping keys) of the ``%s``/``%r``/``%a`` arguments that sit inside a secret value (``"?id=%s"``)."""
    parts: list[str] = []
    secret: set[int | str] = set()
    done = position = 0
    for placeholder in PLACEHOLDER.finditer(msg):
        text = msg[done : placeholder.start()]
        parts += [mask(text), placeholder[0]]
        done = placeholder.end()
        if placeholder["type"] == "%":
            continue
        if placeholder["type"] in ("s", "r", "a") and SECRET_OPEN_AT_END.search(text):
            secret.add(position if placeholder["key"] is None else placeholder["key"])
        # a ``*`` width or precision takes an argument of its own
        position += (placeholder["key"] is None) + f"{placeholder['width']}{placeholder['precision']}".count("*")
    parts.append(mask(msg[done:]))
    return "".join(parts), secret


class MaskTokensFilter(logging.Filter):
    """A logging filter that masks ``access_token=`` and ``id=`` values in a record's message and arguments.

    It masks in place and keeps the record's shape: ``record.msg`` stays the format string (placeholders
    intact) and ``record.args`` stays the tuple or mapping it was, so formatters that read the arguments
    themselves (uvicorn's ``AccessFormatter`` unpacks five of them) and every ``%``-style formatter keep
    working. What it masks:

    - the text of ``record.msg`` and every ``str`` argument (``"GET %s", "/hub?id=SECRET"``), and ``bytes``
      arguments, which stay ``bytes``;
    - an argument whose ``%s``, ``%r`` or ``%a`` placeholder continues a secret in the format string
      (``"?id=%s", "SECRET"``): it becomes ``***``, which those placeholders accept.

    What it leaves: a secret that appears only when some other object is formatted (its ``str()`` or
    ``repr()``), or behind a numeric placeholder (``"id=%d"``). Calling ``str()`` on every argument here
    could run arbitrary code (lazy objects, querysets), and swapping a non-text argument for a string breaks
    ``%d`` and formatters that read the argument. Replacing the message by its formatted, masked text with
    ``args=None`` would catch those too, but breaks uvicorn's formatter: every access line was lost to a
    ``--- Logging error ---`` dump that way.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not args:  # the message is not formatted: all of it is text
            if isinstance(record.msg, str):
                record.msg = mask(record.msg)
            return True
        secret: set[int | str] = set()
        if isinstance(record.msg, str):
            record.msg, secret = _mask_format(record.msg)
        if isinstance(args, tuple):
            record.args = tuple(MASK if i in secret else _mask_value(value) for i, value in enumerate(args))
        elif isinstance(args, Mapping):
            record.args = {key: MASK if key in secret else _mask_value(value) for key, value in args.items()}
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
