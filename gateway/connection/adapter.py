"""The part of a `Transport` that every adapter over an asyncio byte stream shares.

A WebSocket connection and an SSE stream differ in how they are opened, read and ended;
how a flush reaches the socket is the same: the response head the stream was opened with
goes out in front of the first flush, then the connection may write to the asyncio
transport directly (`sink`). One copy of that here keeps the slow-reader rule and the
hot path's writes identical for both.
"""

from __future__ import annotations

import asyncio

from gateway.connection.connection import Connection
from gateway.connection.transport import Sink

__all__ = ["ByteStreamAdapter"]


class ByteStreamAdapter(asyncio.Protocol):
    """Writes a connection's flushes to the asyncio transport under it (see the module).

    Subclasses set `_transport` in `connection_made`, `_preamble` (the response head, or
    None once written) and `conn` (the client it carries) when they accept the stream.
    """

    __slots__ = ("_preamble", "_transport", "conn")

    _transport: asyncio.Transport | None
    _preamble: bytes | None
    conn: Connection | None

    def write(self, chunks: list[bytes]) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        preamble = self._preamble
        if preamble is not None:
            self._preamble = None
            chunks = [preamble, *chunks]
        transport.writelines(chunks)

    def sink(self) -> Sink | None:
        """The asyncio transport itself, once the response head is out."""
        return self._transport if self._preamble is None else None

    def buffered(self) -> int:
        transport = self._transport
        return 0 if transport is None else transport.get_write_buffer_size()

    def is_closing(self) -> bool:
        transport = self._transport
        return transport is None or transport.is_closing()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # asyncio's flow control: the connection's replay waits while the socket is full

    def pause_writing(self) -> None:
        if self.conn is not None:
            self.conn.pause()

    def resume_writing(self) -> None:
        if self.conn is not None:
            self.conn.resume()
