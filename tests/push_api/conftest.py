"""In-process push API tests: the real ASGI app driven over ASGI, hub clients on the real WebSocket transport."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import pytest
from channels.testing import ApplicationCommunicator

from realtime.push_api import sign_token

KEY = "push-api-test-key-0123456789abcdef0123456789"
OTHER_KEY = "push-api-other-key-0123456789abcdef012345678"
HOST = "push.test"
VERSION = "api-version=2022-06-01"


@pytest.fixture(autouse=True)
def _realtime_cleanup(realtime_cleanup):
    """Every test here leaves no connection table or layer state behind."""


@pytest.fixture(autouse=True)
def _keys(settings):
    settings.REALTIME = {"PUSH_API_KEYS": {"main": KEY, "other": {"key": OTHER_KEY, "hubs": ["other"]}}}


@dataclass
class Response:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    """Requests to one push API app over ASGI, signed as a caller would sign them (``aud`` the URL)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def call(
        self,
        method: str,
        path: str,
        *,
        query: str = VERSION,
        body: Any = None,
        raw: bytes | None = None,
        key: str | None = KEY,
        token: str | None = None,
        audience: str | None = None,
        chunks: list[bytes] | None = None,
    ) -> Response:
        """``method`` ``path`` (percent-encoded as sent) with ``query``; signed with ``key`` unless ``token``."""
        headers = [(b"host", HOST.encode())]
        if token is None and key is not None:
            token = sign_token(key, audience or f"http://{HOST}{path}")
        if token is not None:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        scope = {
            "type": "http",
            "http_version": "1.1",
            "scheme": "http",
            "method": method,
            "path": unquote(path),
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": headers,
        }
        communicator = ApplicationCommunicator(self.app, scope)
        for index, chunk in enumerate(chunks or [data]):
            more = chunks is not None and index < len(chunks) - 1
            await communicator.send_input({"type": "http.request", "body": chunk, "more_body": more})
        start = await communicator.receive_output(5)
        content = await communicator.receive_output(5)
        await communicator.wait(5)
        return Response(start["status"], dict(start["headers"]), content["body"])


def path(*parts: str) -> str:
    """``/api/hubs/...`` with each part percent-encoded as one segment."""
    return "/api/hubs/" + "/".join(part if part.startswith(":") else quote(part, safe="") for part in parts)
