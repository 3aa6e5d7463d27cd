"""The one interface a connection writes through, whatever carries its bytes.

Each transport (the WebSocket protocol, an SSE stream) is a small adapter that implements
it; the `Connection` owns everything else about a client (identity, topics, grant, expiry,
outgoing buffer, liveness) and calls nothing but these.
"""

from __future__ import annotations

from typing import Protocol

from gateway.connection.outgoing import TransportKind

__all__ = ["Transport"]


class Transport(Protocol):
    """A client's byte stream, as the connection sees it."""

    #: How this transport frames an `Outgoing` (`item.ws` or `item.sse()`).
    kind: TransportKind
    #: Whether the client answers pings (WebSocket); an SSE stream cannot.
    answers_pings: bool

    def write(self, chunks: list[bytes]) -> None:
        """Write the frames of one flush in one call (the first also carries the response
        head the transport was opened with)."""

    def buffered(self) -> int:
        """Bytes written that the kernel has not taken yet (the slow-reader rule)."""

    def is_closing(self) -> bool:
        """Whether the byte stream is closing or closed: nothing more can be written."""

    def close(self, code: int, reason: str) -> None:
        """End the stream saying why: a WebSocket close frame, an SSE final `close` event."""

    def abort(self) -> None:
        """Drop the stream at once, unsent bytes and all."""
