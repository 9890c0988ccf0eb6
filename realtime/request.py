"""A read-only view of the connection request (WebSocket upgrade, SSE GET or first long poll)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl

from django.http.cookie import parse_cookie

from .types import Scope

SCOPE_KEY = "realtime.request"
"""Where :meth:`RequestInfo.of` keeps a request's view in its ASGI scope."""


class RequestInfo:
    """Headers, cookies and query of the request that opened a connection, as hub code sees them.

    Parsed on first use: an idle connection keeps only the raw header list the server gave it.
    """

    __slots__ = ("path", "client", "_raw_headers", "_query_string", "_headers", "_cookies", "_query")

    def __init__(
        self,
        path: str = "",
        headers: Iterable[tuple[bytes, bytes]] = (),
        query_string: bytes = b"",
        client: str | None = None,
    ) -> None:
        self.path = path
        self.client = client
        """The client's address (the ASGI scope's ``client`` host), if the server gave it."""
        self._raw_headers = headers
        self._query_string = query_string
        self._headers: dict[str, str] | None = None
        self._cookies: dict[str, str] | None = None
        self._query: dict[str, str] | None = None

    @classmethod
    def from_scope(cls, scope: Scope) -> RequestInfo:
        """A view of an ASGI HTTP or WebSocket scope."""
        client = scope.get("client")
        host = client[0] if client else None
        query = scope.get("query_string", b"")
        if isinstance(query, str):  # Django's AsyncRequestFactory and AsyncClient pass a str
            query = query.encode("latin-1")
        return cls(scope.get("path", ""), scope.get("headers", ()), query, host)

    @classmethod
    def of(cls, scope: Scope) -> RequestInfo:
        """The view of ``scope``, made once per request: the routing, the origin check, authentication,
        authorization and the connection all read the same parsed headers and query.

        Kept in the scope (a middleware's copy carries it along); a scope whose path, headers or query were
        replaced since gets a new view.
        """
        found = scope.get(SCOPE_KEY)
        if (
            found is not None
            and found._raw_headers is scope.get("headers", ())
            and found.path == scope.get("path", "")
            and found._query_string == scope.get("query_string", b"")
        ):
            return found
        made = scope[SCOPE_KEY] = cls.from_scope(scope)
        return made

    @property
    def query_string(self) -> bytes:
        """The raw query string."""
        return self._query_string

    @property
    def headers(self) -> dict[str, str]:
        """Header values by lower-case name (repeated headers joined with ``, ``)."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for raw_name, raw_value in self._raw_headers:
                name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            self._headers = headers
        return self._headers

    @property
    def cookies(self) -> dict[str, str]:
        """Cookie values by name."""
        if self._cookies is None:
            self._cookies = parse_cookie(self.headers.get("cookie", ""))
        return self._cookies

    @property
    def query(self) -> dict[str, str]:
        """The first value of each query key, keys as sent."""
        if self._query is None:
            query: dict[str, str] = {}
            text = self._query_string.decode("latin-1")
            if "%" in text or "+" in text:
                pairs = parse_qsl(text, keep_blank_values=True)
            else:  # nothing to unquote (negotiateVersion=1, id=<token>): parse_qsl's result, split directly
                pairs = [(key, value) for key, _, value in (part.partition("=") for part in text.split("&") if part)]
            for key, value in pairs:
                query.setdefault(key, value)
            self._query = query
        return self._query

    def header(self, name: str) -> str | None:
        """A header's value, matched case-insensitively, or ``None``."""
        return self.headers.get(name.lower())

    def query_value(self, name: str) -> str | None:
        """A query parameter's first value, its key matched case-insensitively, or ``None``."""
        query = self.query
        if name in query:
            return query[name]
        lowered = name.lower()
        return next((v for k, v in query.items() if k.lower() == lowered), None)
