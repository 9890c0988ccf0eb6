"""The push API's errors: an HTTP status and Azure SignalR's ``ErrorDetail`` body (code, message, target)."""

from __future__ import annotations

import json


class ApiError(Exception):
    """A request the push API refuses: ``status``, a stable ``code``, a ``message`` for people, the ``target``."""

    def __init__(self, status: int, code: str, message: str, *, target: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target

    def body(self) -> bytes:
        """The ``ErrorDetail`` JSON document."""
        detail = {"code": self.code, "message": self.message}
        if self.target is not None:
            detail["target"] = self.target
        return json.dumps(detail).encode()


def bad_request(message: str, *, target: str | None = None) -> ApiError:
    """400: a parameter or the body is not what the route takes."""
    return ApiError(400, "BadRequest", message, target=target)


def not_found(code: str, message: str, *, target: str | None = None) -> ApiError:
    """404: no such hub, connection, user or group."""
    return ApiError(404, code, message, target=target)
