"""The one interface a connection writes through, whatever carries its bytes.

Each transport (the WebSocket protocol, an SSE stream) is a small adapter that implements
it; the `Connection` owns everything else about a client (identity, topics, grant, expiry,
outgoing buffer, liveness) and calls nothing but these.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from gateway.connection.outgoing import TransportKind

__all__ = ["Sink", "Transport"]


class Sink(Protocol):
    """A byte stream the connection may write its flushes to directly (asyncio's transports
    are): the hot path then makes no Python call per flush beyond these."""

    def writelines(self, list_of_data: Iterable[bytes], /) -> None: ...

    def get_write_buffer_size(self) -> int: ...

    def is_closing(self) -> bool: ...


class Transport(Protocol):
    """A client's byte stream, as the connection sees it."""

    #: How this transport frames an `Outgoing` (`item.ws` or `item.sse()`).
    kind: TransportKind
    #: Whether the client answers pings (WebSocket); an SSE stream cannot.
    answers_pings: bool

    def write(self, chunks: list[bytes]) -> None:
        """Write the frames of one flush in one call (the first also carries the response
        head the transport was opened with); nothing once the stream is closing."""

    def sink(self) -> Sink | None:
        """The byte stream under this transport, once its response head is written (None:
        keep writing through `write`)."""

    def buffered(self) -> int:
        """Bytes written that the kernel has not taken yet (the slow-reader rule)."""

    def is_closing(self) -> bool:
        """Whether the byte stream is closing or closed: nothing more can be written."""

    def close(self, code: int, reason: str) -> None:
        """End the stream saying why: a WebSocket close frame, an SSE final `close` event."""

    def abort(self) -> None:
        """Drop the stream at once, unsent bytes and all."""
