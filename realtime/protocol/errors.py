"""The exact error texts of protocol.md §4 (handshake), §7 (invocations) and §10 (close).

Texts that may carry an exception take ``exc_type_name`` and ``message``: the suffix
`` <Type>: <message>`` is appended only when a type name is given. Whether to give one is the caller's
policy (a :class:`~realtime.exceptions.HubError`, or ``DETAILED_ERRORS`` on); :func:`exception_parts`
applies it.
"""

from __future__ import annotations

from realtime.exceptions import HubError

HANDSHAKE_UNEXPECTED_ERROR = "An unexpected error occurred during connection handshake."
HANDSHAKE_CANCELED = "Handshake was canceled."
STREAMING_ERROR = "An error occurred on the server while streaming results."
CLOSE_ERROR = "Connection closed with an error."
CLOSE_TOKEN_EXPIRED = "Connection closed with an error. Authentication token expired."
CLOSE_CLIENT_TIMEOUT = "Connection closed with an error. Client timeout elapsed without receiving a message."
CLOSE_MESSAGES_LOST = (
    "Connection closed with an error. Messages to this connection may have been lost while the server's "
    "channel layer was failing; reconnect to resume."
)


def with_suffix(prefix: str, exc_type_name: str | None = None, message: str | None = None) -> str:
    """``prefix``, plus `` <Type>: <message>`` when ``exc_type_name`` is given."""
    if exc_type_name is None:
        return prefix
    return f"{prefix} {exc_type_name}: {message or ''}"


def wire_type_name(exc: BaseException) -> str:
    """The type name clients see: the exception's ``wire_name`` (``HubException`` for a ``HubError``, ASP.NET's
    names for binding and protocol errors), else its class name."""
    return getattr(exc, "wire_name", None) or type(exc).__name__


def exception_parts(exc: BaseException, *, detailed: bool) -> tuple[str | None, str | None]:
    """``(type name, message)`` to pass to the text builders, or ``(None, None)`` to hide the exception.

    Only a ``HubError`` is shown unless ``detailed`` (``DETAILED_ERRORS``) is on.
    """
    if detailed or isinstance(exc, HubError):
        return wire_type_name(exc), str(exc)
    return None, None


# --- §4 handshake ---------------------------------------------------------------------------------


def protocol_not_supported(protocol: str) -> str:
    """The hub does not offer the requested protocol."""
    return f"The protocol '{protocol}' is not supported."


def version_not_supported(version: int, protocol: str) -> str:
    """The requested protocol version is above the supported maximum."""
    return f"The server does not support version {version} of the '{protocol}' protocol."


def transfer_format_not_supported(protocol: str, transfer_format: str) -> str:
    """The transport cannot carry the protocol's transfer format (MessagePack over SSE)."""
    return (
        f"Cannot use the '{protocol}' protocol on the current transport. "
        f"The transport does not support '{transfer_format}' transfer format."
    )


def handshake_error(exc_type_name: str | None = None, message: str | None = None) -> str:
    """Malformed handshake (anything but the specific causes above)."""
    return with_suffix(HANDSHAKE_UNEXPECTED_ERROR, exc_type_name, message)


# --- §7 invocations ---------------------------------------------------------------------------------


def unknown_method(target: str) -> str:
    """No hub method is exposed under ``target`` (no trailing period)."""
    return f"Unknown hub method '{target}'"


def invocation_error(target: str, exc_type_name: str | None = None, message: str | None = None) -> str:
    """An exception while invoking ``target`` (for a stream: before its first item)."""
    prefix = f"An unexpected error occurred invoking '{target}' on the server."
    return with_suffix(prefix, exc_type_name, message)


def streaming_error(exc_type_name: str | None = None, message: str | None = None) -> str:
    """An exception after a server stream has produced items."""
    return with_suffix(STREAMING_ERROR, exc_type_name, message)


def streaming_method_with_invocation(target: str) -> str:
    """A streaming method was called with a plain Invocation."""
    return f"The client attempted to invoke the streaming '{target}' method with a non-streaming invocation."


def non_streaming_method_with_stream_invocation(target: str) -> str:
    """A non-streaming method was called with a StreamInvocation."""
    return f"The client attempted to invoke the non-streaming '{target}' method with a streaming invocation."


def binding_failure(target: str, exc_type_name: str | None = None, message: str | None = None) -> str:
    """The arguments could not be bound to ``target``'s parameters (count or type)."""
    return with_suffix(f"Failed to invoke '{target}' due to an error on the server.", exc_type_name, message)


def argument_count_mismatch(provided: int, expected: int) -> str:
    """The message of the ``InvalidDataException`` suffix for a wrong argument count."""
    return f"Invocation provides {provided} argument(s) but target expects {expected}."


def unauthorized(target: str) -> str:
    """Authorization refused ``target`` (no trailing period)."""
    return f"Failed to invoke '{target}' because user is unauthorized"


def invocation_id_in_use(invocation_id: str) -> str:
    """A StreamInvocation reuses the id of a stream that still runs."""
    return f"Invocation ID '{invocation_id}' is already in use."


def too_many_streams(target: str, limit: int) -> str:
    """A server stream refused because the connection already runs ``limit`` of them (``MAX_STREAMS``)."""
    return f"Failed to invoke '{target}' because the connection already has {limit} streams running (MAX_STREAMS)."


def too_many_upload_streams(target: str, limit: int) -> str:
    """An invocation refused because its upload streams would exceed ``MAX_UPLOAD_STREAMS``."""
    return (
        f"Failed to invoke '{target}' because the connection would have more than {limit} upload streams open "
        "(MAX_UPLOAD_STREAMS)."
    )


def stream_count_mismatch(target: str, sent: int, expected: int) -> str:
    """The Invocation lists ``sent`` stream ids but the method has ``expected`` stream parameters."""
    message = f"Client sent {sent} stream(s), Hub method expects {expected}."
    return invocation_error(target, HubError.wire_name, message)


# --- §10 close ----------------------------------------------------------------------------------------


def close_error(exc_type_name: str | None = None, message: str | None = None) -> str:
    """The Close ``error`` for a connection that ends because of an exception."""
    return with_suffix(CLOSE_ERROR, exc_type_name, message)
