"""One SSE response, from its 200 to its final event: the `Transport` of its `Connection`.

The HTTP port's protocol reads the request head and hands the TCP connection over here once
the edge admitted it. The response is `text/event-stream`, delimited by the connection's
close (no chunked framing: an event is written as it is, and HTTP/1.0 clients work too).
Its head and a `retry:` hint go out with the first events, in one write.

The client has nothing to say after its head: bytes it sends anyway are dropped, and past
`MAX_IGNORED_BYTES` the stream is dropped, so a chatty peer cannot cost memory. A closed
read side (EOF) ends the stream, which keeps presence exact without waiting for a write to
fail. `close(code, reason)` writes a final `close` event carrying the same codes a WebSocket
close frame would (1001 drain, 4001, 4008, 4009, 4010, ...), then closes TCP once it is
written, or drops it after CLOSE_TIMEOUT when the reader does not take it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from gateway.connection.adapter import ByteStreamAdapter
from gateway.connection.connection import Connection
from gateway.connection.outgoing import Outgoing, TransportKind

if TYPE_CHECKING:
    from gateway.sse.edge import SseEdge

__all__ = ["CLOSE_TIMEOUT", "MAX_IGNORED_BYTES", "SseStream", "response_head"]

#: How long a closing stream may take to hand its last bytes to the client.
CLOSE_TIMEOUT = 5.0
#: What a client may send after its request head before its stream is dropped.
MAX_IGNORED_BYTES = 4096
#: The reconnect delay browsers use when a stream breaks (the SDKs keep their own backoff).
RETRY_MS = 3000


def response_head(cors: dict[str, str]) -> bytes:
    """The 200 response head and the `retry:` hint that open every stream."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in cors.items())
    return (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/event-stream; charset=utf-8\r\n"
        "Cache-Control: no-cache, no-store, no-transform\r\n"
        "X-Accel-Buffering: no\r\n"  # nginx: pass each event on at once
        f"{extra}Connection: close\r\n\r\nretry: {RETRY_MS}\n\n"
    ).encode()


class SseStream(ByteStreamAdapter):
    """The server side of one event stream."""

    __slots__ = (
        "__weakref__",
        "_edge",
        "_ignored",
        "_timer",
        "id",
    )

    kind: TransportKind = "sse"
    #: An EventSource cannot answer a ping: keep-alive comments only, never a silence rule.
    answers_pings: bool = False

    def __init__(self, edge: SseEdge, stream_id: str, preamble: bytes) -> None:
        self._edge = edge
        #: What names this stream at the ops endpoint (a capability only its reader learns).
        self.id = stream_id
        self._transport: asyncio.Transport | None = None
        self._preamble: bytes | None = preamble
        self._timer: asyncio.TimerHandle | None = None
        self._ignored = 0
        self.conn: Connection | None = None

    def attach(self, conn: Connection) -> None:
        self.conn = conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    # -- the Transport the connection writes through ----------------------------------------

    def close(self, code: int, reason: str) -> None:
        """The final `close` event, then TCP closes once it is written."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self.write([Outgoing.of("close", code=int(code), reason=reason).sse()])
        transport.close()
        self._timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)

    # -- what the client sends: nothing ------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._ignored += len(data)
        if self._ignored > MAX_IGNORED_BYTES:
            self.abort()

    def eof_received(self) -> bool:
        """The client went away (an EventSource closed): asyncio closes the transport, and
        `connection_lost` takes the connection out at once."""
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        conn = self.conn
        if conn is not None:
            conn.release()
            self._edge.release(self)
        # No reference cycle may outlive the stream (see gc_policy.py).
        self.conn = None
        self._preamble = None
        self._transport = None
