"""The hub protocol interface every codec implements (sans-IO: bytes in, messages out)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from .messages import CompletionMessage, HubMessage

TransferFormat = Literal["Text", "Binary"]
Frame = str | bytes
"""A finished chunk for the transport: ``str`` for Text protocols, ``bytes`` for Binary ones."""

DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024


class MessageDecoder(ABC):
    """Stateful reader for one connection: keeps a trailing partial message between chunks.

    ``last_size``: the encoded size in bytes of the message :meth:`messages` yielded last (framing excluded).
    """

    __slots__ = ("last_size",)  # one per connection: no instance dict

    def __init__(self) -> None:
        self.last_size = 0

    @abstractmethod
    def messages(self, data: bytes | str) -> Iterable[HubMessage]:
        """Parse the complete messages in ``data`` (plus what was kept from earlier chunks), one at a time.

        Lazy: a message is parsed only when asked for, so a reader that pauses between messages holds the
        raw chunk, never every parsed message of it (one WebSocket frame may carry thousands). Consume it
        fully before feeding the next chunk. Unknown message types are skipped. Raises
        :class:`realtime.exceptions.RemoteProtocolError` (or its subclass ``MessageTooLarge``) for
        malformed input.
        """

    def feed(self, data: bytes | str) -> list[HubMessage]:
        """Every complete message in ``data`` (plus what was kept from earlier chunks), as a list."""
        return list(self.messages(data))

    @property
    @abstractmethod
    def pending(self) -> int:
        """Bytes of an incomplete trailing message kept for the next chunk."""


class HubProtocol(ABC):
    """A hub protocol: its handshake name, transfer format, a decoder factory and a writer."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    transfer_format: ClassVar[TransferFormat]

    def __init__(self, *, max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.max_message_size = max_message_size

    @abstractmethod
    def decoder(self) -> MessageDecoder:
        """A fresh decoder for one connection's inbound byte stream."""

    @abstractmethod
    def write(self, message: HubMessage) -> Frame:
        """Encode one message, framing included (``0x1E`` terminator or varint length prefix)."""

    def write_result(self, invocation_id: str, result: Any) -> Frame:
        """``write(CompletionMessage.with_result(invocation_id, result))``: most calls' reply, which a protocol
        may write without building the message."""
        return self.write(CompletionMessage.with_result(invocation_id, result))
