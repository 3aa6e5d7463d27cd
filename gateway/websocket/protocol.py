"""The HTTP port's connection protocol: WebSocket upgrades on `/ws` ourselves, the rest to aiohttp.

aiohttp's request path (parser, request, task, response, WebSocketResponse) cost about
250 µs of CPU per WebSocket connect and several KiB per idle socket; this protocol does
the same upgrade in a fraction of that. Every connection's request head is read here with
llhttp (head.py), within HANDSHAKE_TIMEOUT and MAX_HEAD_BYTES whatever its route, and at
most `PendingHeads.limit` connections may be sending one at a time. A complete head that is
not `GET /ws` is handed to aiohttp's own protocol with the bytes read so far (`handoff`),
so health, readiness and metrics keep their aiohttp handlers and aiohttp never waits for a
head. No route here takes a request body, so a request with one is answered 413 here and
aiohttp never reads (or decodes) a body either.

A `/ws` request's head goes to the `Endpoint` (the WebSocket edge), which refuses it or
accepts it. After that this protocol is the connection's `Transport` (connection/transport.py):
it writes the connection's frames (the 101 response ahead of the first), and hands what the
client sends to its `ServerMachine` (machine.py, sans-I/O), which keeps the close handshake
and ping/pong; this adapter only carries out what the machine answers. Knows asyncio, not
aiohttp, not the hub.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Protocol

from gateway.connection.adapter import ByteStreamAdapter
from gateway.connection.connection import Connection
from gateway.connection.outgoing import Outgoing, TransportKind
from gateway.metrics import Metrics
from gateway.websocket.frames import TEXT
from gateway.websocket.handshake import BadHandshake, refusal
from gateway.websocket.head import Head, HeadReader, request_path
from gateway.websocket.machine import Closing, Send, ServerMachine, open_text

__all__ = ["CLOSE_TIMEOUT", "HANDSHAKE_TIMEOUT", "Endpoint", "PendingHeads", "WebSocketProtocol"]

#: How long a client may take to send its request head before it is answered 408 and closed.
HANDSHAKE_TIMEOUT = 10.0
#: How long a server-side close waits for the client's close frame before closing TCP, and
#: then how long TCP may take to send what is buffered before the connection is dropped.
CLOSE_TIMEOUT = 5.0
#: libuv's timers count whole milliseconds.
_TIMER_RESOLUTION = 0.001
_NO_BODY = "no request on this port takes a body (but POST /sse/ops)"
_NOT_FIRST = "a WebSocket upgrade is an HTTP/1.1 GET, the first request on its connection"


class Endpoint(Protocol):
    """What a connection asks of the WebSocket edge."""

    def open(self, protocol: WebSocketProtocol, head: Head) -> None:
        """Refuse (`protocol.refuse`) or accept (`protocol.accept`) an upgrade request."""

    def text(self, conn: Connection, text: str) -> None:
        """One complete text message from the client (an op)."""

    def binary(self, conn: Connection) -> None:
        """One binary message: not part of the protocol."""

    def release(self, conn: Connection) -> None:
        """The connection has ended; forget it."""


class StreamEndpoint(Protocol):
    """What a connection asks of the SSE edge for a `GET /sse` head."""

    def open(self, protocol: WebSocketProtocol, head: Head) -> None:
        """Refuse (`protocol.refuse`) or take the connection over (`protocol.hand_to`)."""


#: The one request with a body served on this port: an SSE stream's ops (aiohttp reads it,
#: within its client_max_size).
_OPS_PATH = b"/sse/ops"


class PendingHeads:
    """The connections still sending their request head, oldest first: at most `limit` of
    them, each for at most HANDSHAKE_TIMEOUT.

    A connection over the limit sheds the oldest: a well-behaved client sends its head in
    one packet, so what has waited longest is the likeliest to be a slowloris, and new
    clients keep getting in while an attacker holds the limit.

    One timer serves them all, set for the oldest one's deadline: connections join in the
    order they arrive, so their deadlines come in that order too. A timer per connection
    (a handle made, armed and cancelled on every connect) cost more CPU than the rest of
    this bookkeeping; a dict insert and pop is all a connect pays here.
    """

    __slots__ = ("_conns", "_timer", "limit", "metrics")

    def __init__(self, limit: int, metrics: Metrics) -> None:
        self.limit = limit
        self.metrics = metrics
        #: Each connection with its deadline (loop time), in the order they arrived.
        self._conns: dict[WebSocketProtocol, float] = {}
        #: Set for the oldest connection's deadline while any is pending (or was, lately).
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._conns)

    def add(self, conn: WebSocketProtocol) -> None:
        conns = self._conns
        loop = asyncio.get_running_loop()
        deadline = conns[conn] = loop.time() + HANDSHAKE_TIMEOUT
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire)
        while len(conns) > self.limit:
            oldest = next(iter(conns))
            self.metrics.heads_shed += 1
            message = "too many connections are sending a request head; retry"
            oldest.refuse(503, {"error": "overloaded", "message": message})

    def discard(self, conn: WebSocketProtocol) -> None:
        # The timer stays set: when it fires with nothing due it moves to the oldest's
        # deadline (or stops), at most once per timeout instead of once per connect.
        self._conns.pop(conn, None)

    def _expire(self) -> None:
        """Answer 408 to each connection whose deadline has passed; set the timer for the next."""
        self._timer = None
        conns = self._conns
        loop = asyncio.get_running_loop()
        now = loop.time() + _TIMER_RESOLUTION  # libuv may fire up to a millisecond early
        expired = []
        for conn, deadline in conns.items():
            if deadline > now:
                self._timer = loop.call_at(deadline, self._expire)
                break
            expired.append(conn)
        for conn in expired:
            del conns[conn]
            self.metrics.heads_timed_out += 1
            conn.head_timeout()


class WebSocketProtocol(ByteStreamAdapter):
    """One TCP connection on the HTTP port, from its request line to its close; once
    upgraded, the `Transport` of its `Connection`."""

    __slots__ = (
        "__weakref__",  # lets tests watch a closed connection be freed
        "_endpoint",
        "_handoff",
        "_head",
        "_machine",
        "_pending",
        "_sse",
        "_timer",
    )

    #: How a `Connection` frames items for this transport (connection/transport.py).
    kind: TransportKind = "ws"
    #: WebSocket clients answer pings: silence means a dead peer.
    answers_pings: bool = True

    def __init__(
        self,
        endpoint: Endpoint,
        handoff: Callable[[], asyncio.Protocol],
        frame_limit: int,
        pending: PendingHeads,
        sse: StreamEndpoint | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._sse = sse
        self._handoff = handoff
        self._pending = pending
        self._transport: asyncio.Transport | None = None
        #: Reads the request head; None once upgraded (or refused, or handed off).
        self._head: HeadReader | None = HeadReader()
        self._machine = ServerMachine(frame_limit)
        self._timer: asyncio.TimerHandle | None = None
        #: The 101 response, written ahead of the connection's first frames.
        self._preamble: bytes | None = None
        #: Set by `accept`: the client this connection carries.
        self.conn: Connection | None = None

    @property
    def transport(self) -> asyncio.Transport:
        if self._transport is None:
            raise RuntimeError("the connection is closed")
        return self._transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self._pending.add(self)

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is not None:  # upgraded (set by `accept`, once the head was read)
            conn.heard_from()
            # one whole small text frame while open, as a client op is (an ack most often):
            # straight to the edge, as short a path as a pong's (and no call more)
            text = open_text(self._machine, data)
            if text is not None:
                # read, then called: `endpoint.text(...)` would be a method look-up that
                # finds an attribute (ClientOps.received), which the interpreter cannot
                # specialise (~0.17k instructions an op)
                receive = self._endpoint.text
                receive(conn, text)
                return
            self._frames(conn, data)
            return
        reader = self._head
        if reader is None:  # refused or handed off: nothing more is read
            return
        try:
            head = reader.feed(data)
        except BadHandshake as exc:
            self.refuse(exc.status, {"error": exc.error, "message": exc.message})
            return
        if head is None:
            return
        self._head_done()
        if head.has_body and (head.method != b"POST" or head.path != _OPS_PATH):
            # then aiohttp would read and decode it, with its own rules
            body = {"error": "content_too_large", "message": _NO_BODY}
            self.refuse(413, body, websocket=head.path == b"/ws")
            return
        if head.method == b"GET" and head.path == b"/sse" and self._sse is not None:
            self._sse.open(self, head)
            return
        if head.method != b"GET" or head.path != b"/ws":
            self._hand_off(reader.received)
            return
        if head.version != "1.1":
            self.refuse(400, {"error": "bad_handshake", "message": _NOT_FIRST})
            return
        self._endpoint.open(self, head)
        if head.rest and self.conn is not None:
            self.data_received(head.rest)  # frames sent with the head: read as any

    def refuse(
        self,
        status: int,
        body: dict[str, str],
        *,
        websocket: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the request with an HTTP error and close the connection.

        `websocket`: whether the request may be an upgrade (its refusal then names the
        WebSocket version, `refusal`); by default, unless the head read so far names
        another path than `/ws`. `headers`: more for the response (`refusal`'s).
        """
        if websocket is None:
            path = None if self._head is None else request_path(self._head.received)
            websocket = path is None or path == b"/ws"
        self._head_done()
        self.transport.write(refusal(status, body, websocket=websocket, headers=headers))
        self._close_transport()

    def accept(self, conn: Connection, response: bytes) -> None:
        """The upgrade is accepted: frames are read from now on and go to `conn`; its first
        write carries `response` (the 101) ahead of its frames."""
        self.conn = conn
        self._preamble = response

    # -- the Transport the connection writes through ----------------------------------------

    def close(self, code: int, reason: str) -> None:
        """Start the close handshake; TCP closes when the client answers or in CLOSE_TIMEOUT.

        The connection has written what it owed before calling this.
        """
        if self._transport is None:
            return
        frame = self._machine.close(code, reason)
        if frame is not None:
            self.write([frame])
            loop = asyncio.get_running_loop()
            self._cancel_timer()
            self._timer = loop.call_later(CLOSE_TIMEOUT, self._close_transport)

    # -- what the client sends ---------------------------------------------------------------

    def _frames(self, conn: Connection, data: bytes) -> None:
        """What the client sent, other than one whole small text frame while open (which
        `data_received` hands to the edge itself): each event the machine reads."""
        endpoint = self._endpoint
        for event in self._machine.receive(data):
            if self._transport is None:
                return
            if isinstance(event, Send):
                conn.send(Outgoing.control(event.frame))
            elif isinstance(event, Closing):
                # what was accepted for the client goes out first; a connection still held
                # has not sent its 101, so nothing may: end() dropped it
                if conn.end() and event.frame is not None:
                    self.write([event.frame])
                self._close_transport()
                return
            elif event.opcode == TEXT:
                endpoint.text(conn, event.text)
            else:
                endpoint.binary(conn)

    def _close_transport(self) -> None:
        """Close TCP once what is buffered has gone out; drop it if that takes CLOSE_TIMEOUT.

        A peer that stopped reading would otherwise hold its socket and buffer for as long
        as its kernel keeps answering zero-window probes.
        """
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.close()
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)

    def head_timeout(self) -> None:
        """The request head did not arrive within HANDSHAKE_TIMEOUT (`PendingHeads` says)."""
        message = f"the request head did not arrive within {HANDSHAKE_TIMEOUT:g} s"
        self.refuse(408, {"error": "request_timeout", "message": message})

    def _head_done(self) -> None:
        """The head is complete (or refused): its deadline and its place in line are over."""
        reader = self._head
        if reader is not None:
            reader.close()
            self._head = None
            self._pending.discard(self)

    def hand_to(self, protocol: asyncio.Protocol) -> None:
        """Another protocol (an SSE stream) takes the connection from here; what the client
        sent after its head is not passed on (an SSE client has nothing to say)."""
        transport = self.transport
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        self._transport = None

    def _hand_off(self, data: bytes | bytearray) -> None:
        """Not a WebSocket request: aiohttp's protocol takes the connection from here."""
        transport = self.transport
        protocol = self._handoff()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(bytes(data))
        self._transport = None

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        self._cancel_timer()
        conn = self.conn
        if conn is not None:
            conn.release()
            self._endpoint.release(conn)
        # No reference cycle may outlive the connection (see gc_policy.py).
        self.conn = None
        self._preamble = None
        self._transport = None
