"""The HTTP port's connection protocol: WebSocket upgrades on `/ws` ourselves, the rest to aiohttp.

aiohttp's request path (parser, request, task, response, WebSocketResponse) cost about
250 µs of CPU per WebSocket connect and several KiB per idle socket; this protocol does
the same upgrade in a fraction of that. It reads the request line: a `GET /ws` over
HTTP/1.1 stays here, anything else is handed to aiohttp's own protocol with the bytes
read so far (`handoff`), so health, readiness and metrics keep their aiohttp handlers.

A `/ws` request's head goes to the `Endpoint` (the WebSocket edge), which refuses it or
accepts it; after that every client frame is parsed here (frames.py) and passed on as a
message, and the close handshake is kept here. Knows asyncio, not aiohttp, not the hub.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from gateway.closecodes import CloseCode
from gateway.session import Session
from gateway.websocket.frames import CLOSE, FrameReader, Message, ProtocolError
from gateway.websocket.grants import TopicGrant
from gateway.websocket.handshake import (
    MAX_HEAD_BYTES,
    BadHandshake,
    RequestHead,
    parse_head,
    refusal,
    request_target,
)
from gateway.wire import close_frame

__all__ = ["CLOSE_TIMEOUT", "Endpoint", "WebSocketProtocol"]

#: How every request this protocol keeps begins; any other is aiohttp's from its first bytes.
_OURS = b"GET /ws"
#: How long a client may take to send its request head before the connection is closed.
HANDSHAKE_TIMEOUT = 10.0
#: How long a server-side close waits for the client's close frame before closing TCP, and
#: then how long TCP may take to send what is buffered before the connection is dropped.
CLOSE_TIMEOUT = 5.0


class Endpoint(Protocol):
    """What a connection asks of the WebSocket edge."""

    def open(self, conn: WebSocketProtocol, head: RequestHead) -> None:
        """Refuse (`conn.refuse`) or accept (`conn.accept`) an upgrade request."""

    def received(self, conn: WebSocketProtocol, message: Message) -> None:
        """One complete client message other than close."""

    def release(self, conn: WebSocketProtocol) -> None:
        """The connection has ended; forget it."""


class WebSocketProtocol(asyncio.Protocol):
    """One TCP connection on the HTTP port, from its request line to its close."""

    __slots__ = (
        "__weakref__",  # lets tests watch a closed connection be freed
        "_closing",
        "_endpoint",
        "_handoff",
        "_head",
        "_reader",
        "_timer",
        "_transport",
        "expiry",
        "grant",
        "session",
    )

    def __init__(
        self, endpoint: Endpoint, handoff: Callable[[], asyncio.Protocol], frame_limit: int
    ) -> None:
        self._endpoint = endpoint
        self._handoff = handoff
        self._transport: asyncio.Transport | None = None
        #: The request head read so far; None once upgraded (or refused, or handed off).
        self._head: bytearray | None = bytearray()
        self._reader = FrameReader(frame_limit)
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        #: Set by `accept`: the connection's outgoing side, which the hub knows it by.
        self.session: Session | None = None
        #: The token-expiry timer the edge set for this connection, if any.
        self.expiry: asyncio.TimerHandle | None = None
        #: The topics the connection's token allows (set by the edge); None: any topic.
        self.grant: TopicGrant | None = None

    @property
    def transport(self) -> asyncio.Transport:
        if self._transport is None:
            raise RuntimeError("the connection is closed")
        return self._transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(HANDSHAKE_TIMEOUT, self._close_transport)

    def data_received(self, data: bytes) -> None:
        if self._head is None:
            if self.session is not None:
                self._frames(data)
            return
        head = self._head
        searched = max(0, len(head) - 3)  # a slow client's head is not rescanned from 0
        head += data
        if not head.startswith(_OURS) and not _OURS.startswith(head):
            self._hand_off(head)  # at once, so aiohttp answers garbage as it always did
            return
        line_end = head.find(b"\r\n")
        if line_end < 0 and len(head) <= MAX_HEAD_BYTES:
            return
        query = request_target(bytes(head[:line_end])) if line_end >= 0 else None
        if query is None:
            self._hand_off(head)
            return
        head_end = head.find(b"\r\n\r\n", searched, MAX_HEAD_BYTES + 4)
        if head_end < 0:
            if len(head) > MAX_HEAD_BYTES:
                message = f"the request head is over {MAX_HEAD_BYTES} bytes"
                self.refuse(431, {"error": "header_too_large", "message": message})
            return
        self._head = None
        self._cancel_timer()
        try:
            request = parse_head(bytes(head[:head_end]), query)
        except BadHandshake as exc:
            self.refuse(exc.status, {"error": exc.error, "message": exc.message})
            return
        self._endpoint.open(self, request)
        rest = head[head_end + 4 :]
        if rest and self.session is not None:
            self._frames(bytes(rest))

    def refuse(self, status: int, body: dict[str, str]) -> None:
        """Answer the request with an HTTP error and close the connection."""
        self._head = None
        self._cancel_timer()
        transport = self.transport
        transport.write(refusal(status, body))
        transport.close()

    def accept(self, session: Session) -> None:
        """The upgrade is accepted: frames are read from now on and go out via `session`."""
        self.session = session

    def close(self, code: int, reason: str) -> None:
        """Start the close handshake; TCP closes when the client answers or in CLOSE_TIMEOUT.

        What was accepted for the connection goes out before the close frame.
        """
        if self._closing or self._transport is None:
            return
        self._closing = True
        if self._end_session():
            self._transport.write(close_frame(code, reason))
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(CLOSE_TIMEOUT, self._close_transport)

    def _end_session(self) -> bool:
        """Flush and close the session; False if the connection had to be dropped instead.

        A session still held (its replay is being read) has not queued its 101 response:
        no close frame may go out before that, so the connection is dropped.
        """
        session = self.session
        if session is not None:
            if session.held:
                session.abort()
                return False
            session.flush()
            session.close()
        return True

    def _frames(self, data: bytes) -> None:
        try:
            messages = self._reader.feed(data)
        except ProtocolError as exc:
            self._fail(exc.code, exc.reason)
            return
        for message in messages:
            if self._transport is None:
                return
            if message.opcode == CLOSE:
                self._on_close(message.data)
                return
            if not self._closing:
                self._endpoint.received(self, message)

    def _on_close(self, payload: bytes) -> None:
        """The client's close frame: answer it (unless it answers ours), then close TCP."""
        if not self._closing:
            self._closing = True
            code = int.from_bytes(payload[:2], "big") if payload else CloseCode.NORMAL
            if self._end_session():
                self.transport.write(close_frame(code, ""))
        self._close_transport()

    def _fail(self, code: int, reason: str) -> None:
        """The client broke the protocol: say why in a close frame and close TCP at once."""
        if not self._closing:
            self._closing = True
            if self._end_session():
                self.transport.write(close_frame(code, reason))
        self._close_transport()

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

    def _hand_off(self, data: bytearray) -> None:
        """Not a WebSocket request: aiohttp's protocol takes the connection from here."""
        self._head = None
        self._cancel_timer()
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
        self._cancel_timer()
        if self.session is not None:
            self._endpoint.release(self)
        # No reference cycle may outlive the connection (see gc_policy.py).
        self.session = None
        self.expiry = None
        self.grant = None
        self._transport = None
