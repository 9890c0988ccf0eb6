"""A read-only snapshot of the connection request (WebSocket upgrade, SSE GET or first long poll)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from django.http.cookie import parse_cookie

from .types import Scope


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """Headers, cookies and query of the request that opened a connection, as hub code sees them."""

    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    """Header values by lower-case name (repeated headers joined with ``, ``)."""
    cookies: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    """The first value of each query key, keys as sent."""

    @classmethod
    def from_scope(cls, scope: Scope) -> RequestInfo:
        """Snapshot an ASGI HTTP or WebSocket scope."""
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", ()):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        query: dict[str, str] = {}
        for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            query.setdefault(key, value)
        cookies = parse_cookie(headers.get("cookie", ""))
        return cls(path=scope.get("path", ""), headers=headers, cookies=cookies, query=query)

    def header(self, name: str) -> str | None:
        """A header's value, matched case-insensitively, or ``None``."""
        return self.headers.get(name.lower())

    def query_value(self, name: str) -> str | None:
        """A query parameter's first value, its key matched case-insensitively, or ``None``."""
        if name in self.query:
            return self.query[name]
        lowered = name.lower()
        return next((v for k, v in self.query.items() if k.lower() == lowered), None)
