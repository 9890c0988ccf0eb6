"""The error hierarchy of ``realtime``.

Everything raised on purpose derives from :class:`RealtimeError`. Only :class:`HubError` text reaches
clients unless ``DETAILED_ERRORS`` is on.
"""

from __future__ import annotations


class RealtimeError(Exception):
    """Base of every error ``realtime`` raises on purpose."""


class HubError(RealtimeError):
    """Raised by hub code: its message always reaches the client.

    ``wire_name`` is the type name shown to clients (``HubException``, as ASP.NET SignalR).
    """

    wire_name = "HubException"


class ClientResultError(HubError):
    """The client answered a client-result invocation with an error, or never answered."""


class GroupError(HubError):
    """A group change refused: the connection is already in ``MAX_GROUPS`` groups.

    A ``HubError``: raised inside a hub method, its text reaches the client.
    """


class ProtocolError(RealtimeError):
    """Malformed or illegal protocol traffic."""

    close_code = 1002


class LocalProtocolError(ProtocolError):
    """We were asked to send something the protocol does not allow (API misuse)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something malformed or out of order."""

    wire_name = "InvalidDataException"
    """The type name clients see in a Close message, as ASP.NET reports protocol errors."""


class HandshakeError(RemoteProtocolError):
    """The handshake request is malformed, names an unknown protocol or version, or timed out."""

    detail: str | None = None
    """Extra cause (``InvalidDataException: ...``) shown only with detailed errors."""


class LimitExceeded(RemoteProtocolError):
    """The client went past a per-connection bound that cannot push it back (the connection closes)."""


class MessageTooLarge(RemoteProtocolError):
    """A message exceeded ``MAX_MESSAGE_SIZE``."""

    close_code = 1009


class InvalidToken(RealtimeError):
    """A JWT is missing, malformed, or expired."""


class BroadcastError(RealtimeError):
    """A push could not be handed to the channel layer (layer down, full...)."""
