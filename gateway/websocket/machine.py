"""The WebSocket connection's protocol state, sans-I/O: frames in, what to do out.

`ServerMachine` reads client frames (it is a `FrameReader`) and keeps the close handshake
(RFC 6455 §5.5.1, §7) and ping/pong (§5.5.2-3), so they are tested without sockets, as
python-websockets' `protocol.py` does. It never writes: `receive()` answers with what the
asyncio adapter (protocol.py) must do, in order:

- `Message`s (text, binary) for the edge;
- `Send(frame)`: a control frame to queue in order with the rest (a pong);
- finally at most one `Closing(frame)`: the stream ends here; write `frame` (if any: the
  answer to the client's close, or the close that names its protocol error) after what is
  queued, then close TCP.

`close(code, reason)` starts a server-side close and returns the frame to send; the
client's answering close then ends the stream with nothing more to send.

One object per connection (a subclass of the frame reader, not a second object beside it:
an idle connection's bytes are counted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, cast

from gateway.closecodes import CloseCode
from gateway.speedups import compiled
from gateway.websocket.frames import CLOSE, PING, PONG, FrameReader, Message, ProtocolError
from gateway.wire import close_frame, pong_frame

__all__ = [
    "CLOSED",
    "CLOSING",
    "OPEN",
    "Closing",
    "Event",
    "Send",
    "ServerMachine",
    "open_text",
]

#: The states: frames flow; we sent a close and wait for the client's; the stream is over.
OPEN, CLOSING, CLOSED = 0, 1, 2


class Send(NamedTuple):
    """A control frame to queue in order with the other outgoing frames."""

    frame: bytes


class Closing(NamedTuple):
    """The stream ends: write `frame` (None: nothing) after what is queued, close TCP."""

    frame: bytes | None


Event = Message | Send | Closing


class ServerMachine(FrameReader):
    """The server side of one WebSocket, from the upgrade to the end of the close handshake."""

    __slots__ = ("state",)

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.state = OPEN

    def receive(self, data: bytes) -> list[Event]:
        """What `data` from the client means, in order (nothing once the stream is over)."""
        if self.state == CLOSED:
            return []
        error = None
        try:
            messages = self.feed(data)
        except ProtocolError as exc:
            messages, error = exc.messages, exc
        events: list[Event] = []
        for message in messages:
            opcode = message.opcode
            if opcode == CLOSE:
                events.append(self._client_closed(message.data))
                return events
            if self.state != OPEN:  # after our close, only the client's close matters
                continue
            if opcode == PING:
                events.append(Send(pong_frame(message.data)))
            elif opcode != PONG:  # a pong only shows the client is alive: the adapter saw
                events.append(message)
        if error is not None:
            events.append(self._fail(error.code, error.reason))
        return events

    def open_text(self, data: bytes) -> str | None:
        """The text of `data` while the stream is open, if it is one whole small text
        frame and nothing else (`small_text`), as a client op is (an ack most often);
        None otherwise (then `receive` reads it). The twin of the module's `open_text`."""
        if self.state != OPEN:
            return None
        return self.small_text(data)

    def close(self, code: int, reason: str) -> bytes | None:
        """Start the server's close: the frame to send, or None if a close is under way."""
        if self.state != OPEN:
            return None
        self.state = CLOSING
        return close_frame(code, reason)

    def _client_closed(self, payload: bytes) -> Closing:
        """The client's close: answered with its code, unless it answers ours."""
        answer = None
        if self.state == OPEN:
            code = int.from_bytes(payload[:2], "big") if payload else CloseCode.NORMAL
            answer = close_frame(code, "")
        self.state = CLOSED
        return Closing(answer)

    def _fail(self, code: int, reason: str) -> Closing:
        """The client broke the protocol: say why (unless we are closing already), end."""
        frame = close_frame(code, reason) if self.state == OPEN else None
        self.state = CLOSED
        return Closing(frame)


def _load() -> Callable[[ServerMachine, bytes], str | None]:
    module = compiled("_wsframe")
    if module is None:
        return ServerMachine.open_text
    return cast(Callable[[ServerMachine, bytes], str | None], module.open_text)


#: `machine.open_text(data)`, compiled (gateway/csrc/wsframe.c: the machine's slots read at
#: their offsets) unless GATEWAY_NO_SPEEDUPS=1 or the module is missing: the protocol reads
#: each client op through it, and the method's Python frame was ~0.55k instructions an ack.
open_text = _load()
