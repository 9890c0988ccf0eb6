"""Server-Sent Events framing: hub SSE (protocol.md §3.3, ``\\r\\n`` lines) and plain SSE views (``\\n``)."""

from __future__ import annotations

import re

SSE_PREAMBLE = b":\r\n"
"""First write of a hub SSE response, flushed at once (Firefox fires ``open`` only after bytes arrive)."""

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def format_event(payload: bytes | str) -> bytes:
    """One unnamed hub event carrying ``payload`` (one or more complete hub messages).

    No newline → ``data: <payload>\\r\\n\\r\\n``; otherwise one ``data: `` line per line (a ``\\r`` before
    ``\\n`` dropped), then ``\\r\\n``.
    """
    data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    if b"\n" not in data:
        return b"data: " + data + b"\r\n\r\n"
    lines = (line[:-1] if line.endswith(b"\r") else line for line in data.split(b"\n"))
    return b"".join(b"data: " + line + b"\r\n" for line in lines) + b"\r\n"


def _field(name: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"An SSE {name} cannot contain a line break.")
    return f"{name}: {value}\n"


def format_sse(
    data: str,
    *,
    event: str | None = None,
    id: str | int | None = None,
    retry: int | None = None,
) -> bytes:
    """One SSE event for the plain SSE views: optional ``event``/``id``/``retry``, then ``data`` lines.

    Multi-line ``data`` (any of ``\\r\\n``, ``\\r``, ``\\n``) becomes several ``data:`` lines.

    Raises:
        ValueError: a line break in ``event`` or ``id``, a NUL in ``id``, or a negative ``retry``.
    """
    out = []
    if event is not None:
        out.append(_field("event", event))
    if id is not None:
        if "\0" in str(id):
            raise ValueError("An SSE id cannot contain NUL.")
        out.append(_field("id", str(id)))
    if retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
            raise ValueError(f"An SSE retry must be a non-negative integer, got {retry!r}.")
        out.append(f"retry: {retry}\n")
    out.extend(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    return ("".join(out) + "\n").encode("utf-8")


def format_comment(text: str = "") -> bytes:
    """A comment (ignored by ``EventSource``; keeps proxies from timing out): ``: <text>\\n\\n``.

    An empty ``text`` gives ``:\\n\\n``; multi-line text becomes one comment line per line.
    """
    lines = _LINE_BREAK.split(text)
    return "".join(f": {line}\n" if line else ":\n" for line in lines).encode("utf-8") + b"\n"
