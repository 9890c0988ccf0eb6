"""CORS and the negotiate cookies of the conformance server, as an ASGI wrapper around every HTTP route."""

from __future__ import annotations

from typing import Any

NEGOTIATE_COOKIES = [
    (b"set-cookie", b"testCookie=testValue; Path=/"),
    (b"set-cookie", b"testCookie2=testValue2; Path=/"),
    (b"set-cookie", b"expiredCookie=doesntmatter; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"),
]


class ConformanceHttp:
    """Echo ``Origin`` with credentials, answer preflights with 204, set the test cookies on negotiate."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers", ()))
        origin = headers.get(b"origin")
        cors = (
            [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
                (b"vary", b"Origin"),
            ]
            if origin
            else []
        )
        if scope["method"] == "OPTIONS":
            allowed = [
                (b"access-control-allow-methods", headers.get(b"access-control-request-method", b"GET, POST")),
                (b"access-control-allow-headers", headers.get(b"access-control-request-headers", b"")),
                (b"access-control-max-age", b"600"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": cors + allowed})
            await send({"type": "http.response.body", "body": b""})
            return
        extra = cors + (NEGOTIATE_COOKIES if scope["path"].lower().endswith("/negotiate") else [])

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and extra:
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
