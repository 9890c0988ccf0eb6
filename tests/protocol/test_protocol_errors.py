"""The exact error texts of protocol.md §4, §7 and §10."""

from __future__ import annotations

from realtime.exceptions import ClientResultError, HubError
from realtime.protocol import errors


class InvalidOperationException(Exception):
    pass


class CustomHubError(HubError):
    wire_name = "CustomException"


def test_unknown_method() -> None:
    assert errors.unknown_method("Nope") == "Unknown hub method 'Nope'"


def test_invocation_error() -> None:
    assert errors.invocation_error("M") == "An unexpected error occurred invoking 'M' on the server."
    assert errors.invocation_error("M", "HubException", "boom") == (
        "An unexpected error occurred invoking 'M' on the server. HubException: boom"
    )


def test_streaming_error() -> None:
    assert errors.streaming_error() == "An error occurred on the server while streaming results."
    assert errors.streaming_error("InvalidOperationException", "x") == (
        "An error occurred on the server while streaming results. InvalidOperationException: x"
    )


def test_streaming_mismatch() -> None:
    assert errors.streaming_method_with_invocation("S") == (
        "The client attempted to invoke the streaming 'S' method with a non-streaming invocation."
    )
    assert errors.non_streaming_method_with_stream_invocation("N") == (
        "The client attempted to invoke the non-streaming 'N' method with a streaming invocation."
    )


def test_binding_failure() -> None:
    assert errors.binding_failure("M") == "Failed to invoke 'M' due to an error on the server."
    message = errors.argument_count_mismatch(1, 2)
    assert errors.binding_failure("M", "InvalidDataException", message) == (
        "Failed to invoke 'M' due to an error on the server. "
        "InvalidDataException: Invocation provides 1 argument(s) but target expects 2."
    )


def test_unauthorized() -> None:
    assert errors.unauthorized("M") == "Failed to invoke 'M' because user is unauthorized"


def test_stream_count_mismatch() -> None:
    assert errors.stream_count_mismatch("M", 2, 1) == (
        "An unexpected error occurred invoking 'M' on the server. HubException: Client sent 2 stream(s), "
        "Hub method expects 1."
    )


def test_close_error() -> None:
    assert errors.close_error() == "Connection closed with an error."
    assert errors.close_error("InvalidOperationException", "bad") == (
        "Connection closed with an error. InvalidOperationException: bad"
    )
    assert errors.CLOSE_TOKEN_EXPIRED == "Connection closed with an error. Authentication token expired."


def test_handshake_texts() -> None:
    assert errors.protocol_not_supported("x") == "The protocol 'x' is not supported."
    text = "The server does not support version 3 of the 'json' protocol."
    assert errors.version_not_supported(3, "json") == text
    assert errors.transfer_format_not_supported("messagepack", "Binary") == (
        "Cannot use the 'messagepack' protocol on the current transport. "
        "The transport does not support 'Binary' transfer format."
    )
    assert errors.handshake_error() == "An unexpected error occurred during connection handshake."
    assert errors.HANDSHAKE_CANCELED == "Handshake was canceled."


def test_exception_parts_policy() -> None:
    assert errors.exception_parts(HubError("shown"), detailed=False) == ("HubException", "shown")
    assert errors.exception_parts(ClientResultError("c"), detailed=False) == ("HubException", "c")
    assert errors.exception_parts(CustomHubError("c"), detailed=False) == ("CustomException", "c")
    assert errors.exception_parts(InvalidOperationException("hidden"), detailed=False) == (None, None)
    assert errors.exception_parts(InvalidOperationException("x"), detailed=True) == (
        "InvalidOperationException",
        "x",
    )
    parts = errors.exception_parts(InvalidOperationException("x"), detailed=False)
    assert errors.invocation_error("M", *parts) == "An unexpected error occurred invoking 'M' on the server."
