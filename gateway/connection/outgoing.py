"""What the server sends a client, made once and framed once per transport kind.

The fan-out hands every recipient of a publish the same `Outgoing`. Its JSON (the event
object a client reads, the same on every transport) is made once; each transport kind
frames it once and every connection of that kind shares the bytes:

- `item.ws`: the WebSocket text frame. Built with the item, because WebSocket is the
  common transport and a connection's flush then only collects an attribute per frame
  (a method call per frame per recipient cost ~2x as much in a broadcast);
- `item.sse()`: the Server-Sent Events block `id: <cursor>\\nevent: <name>\\ndata: <json>`,
  made the first time an SSE connection flushes it and cached on the item.

Frames that only one transport has are `Outgoing`s too, so they queue in order with the
rest: `PING` is a WebSocket ping and an SSE keep-alive comment; `Outgoing.control(frame)`
(a pong) has no SSE form at all. Sans-I/O: no asyncio here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Literal

import pydantic_core

from gateway.speedups import compiled, speedups
from gateway.wire import PING_FRAME, frame_header, text_frame

__all__ = [
    "PING",
    "WS_NOTIFICATION_HEAD",
    "WS_NOTIFICATION_HEAD_END",
    "Outgoing",
    "TransportKind",
    "frame_cursor",
]

#: The kinds of transport a connection can have; each frames an `Outgoing` its own way.
TransportKind = Literal["ws", "sse"]

_NOTIFICATION_HEAD = b'{"event":"notification","cursor":"'
#: Receipts: a WebSocket frame is a notification when this starts at its 2nd to 10th byte
#: (after its header): `frame.find(WS_NOTIFICATION_HEAD, 2, WS_NOTIFICATION_HEAD_END)`.
WS_NOTIFICATION_HEAD = _NOTIFICATION_HEAD
WS_NOTIFICATION_HEAD_END = 10 + len(_NOTIFICATION_HEAD)
_NOTIFICATION_MID = b'","notification":'
_NOTIFICATION_FIXED = len(_NOTIFICATION_HEAD) + len(_NOTIFICATION_MID) + 1
_TEXT = 0x81
_SHORT_HEADER = struct.Struct("!BB").pack
_MEDIUM_HEADER = struct.Struct("!BBH").pack
_new = object.__new__


def _notification_frame_py(cursor: str, body: bytes) -> bytes:
    """The WebSocket frame of a `notification` event, built in one join, header included
    (one copy of the body per publish)."""
    if cursor.isprintable() and '"' not in cursor and "\\" not in cursor:
        cursor_bytes = cursor.encode()
    else:
        cursor_bytes = pydantic_core.to_json(cursor)[1:-1]
    size = _NOTIFICATION_FIXED + len(cursor_bytes) + len(body)
    return b"".join(
        (
            # the usual sizes without a Python call (frame_header for the rest)
            _SHORT_HEADER(_TEXT, size)
            if size < 126
            else _MEDIUM_HEADER(_TEXT, 126, size)
            if size < 65536
            else frame_header(_TEXT, size),
            _NOTIFICATION_HEAD,
            cursor_bytes,
            _NOTIFICATION_MID,
            body,
            b"}",
        )
    )


def _compiled_frame() -> Callable[[str, bytes], bytes] | None:
    # gateway/csrc/frame.c: the common cursor and size in one allocation, the twin else
    if speedups is None:
        return None
    speedups.configure_frame(_notification_frame_py, _NOTIFICATION_HEAD, _NOTIFICATION_MID)
    compiled: Callable[[str, bytes], bytes] = speedups.notification_frame
    return compiled


_notification_frame = _compiled_frame() or _notification_frame_py


class Outgoing:
    """One server-to-client event (or control frame): its JSON and its framings.

    `json` is the event object (None for a frame only one transport has); `cursor` is the
    log position of a `notification`, which SSE sends as the event's `id:`.
    """

    __slots__ = ("_sse", "cursor", "event", "json", "ws")

    def __init__(
        self, event: str, json: bytes | None, ws: bytes, cursor: str | None = None
    ) -> None:
        self.event = event
        self.json = json
        self.ws = ws
        self.cursor = cursor
        self._sse: bytes | None = None

    @classmethod
    def notification(cls, cursor: str, body: bytes) -> Outgoing:
        """The `notification` event, spliced from the notification's encoded JSON object.

        The WebSocket frame is built in one join, header included (one copy of the body per
        publish). Every log's cursors are `[0-9a-z.]+-[0-9]+` (log/base.py), which JSON
        does not escape: they go in as they are, and anything else is encoded properly.
        """
        # made without __init__: one Python call per publish, as the frame alone was. With
        # gateway._publish this classmethod is the twin: `notification` is the C maker
        # (csrc/outgoing.c, the same object in ~0.5k instructions instead of ~3.5k)
        item = _new(cls)
        item.event = "notification"
        item.json = None
        item.ws = _notification_frame(cursor, body)
        item.cursor = cursor
        item._sse = None
        return item

    @classmethod
    def of(cls, event: str, /, *, sse_id: str | None = None, **fields: Any) -> Outgoing:
        """A non-notification event (`welcome`, `subscribed`, `error`, ...); `sse_id` is the
        `id:` an SSE client resumes from (a fresh stream's welcome carries the log head)."""
        payload = pydantic_core.to_json({"event": event, **fields})
        return cls(event, payload, text_frame(payload), sse_id)

    @classmethod
    def of_fields(cls, fields: dict[str, object], sse_id: str | None = None) -> Outgoing:
        """An event from its fields, `event` (its name) first: for the one made on every
        connect (the welcome), without `of`'s keyword packing."""
        payload = pydantic_core.to_json(fields)
        return cls(str(fields["event"]), payload, text_frame(payload), sse_id)

    @classmethod
    def control(cls, frame: bytes) -> Outgoing:
        """A frame only WebSocket has (a pong): nothing on an SSE stream."""
        return cls("", None, frame)

    def payload(self) -> bytes:
        """The event's JSON object (for a notification, cut from its frame once)."""
        if self.json is None:
            if self.event != "notification":
                return b""
            ws = self.ws
            # the JSON is the frame minus its 2-, 4- or 10-byte header
            size = ws[1] & 0x7F
            self.json = ws[2:] if size < 126 else ws[4:] if size == 126 else ws[10:]
        return self.json

    def sse(self) -> bytes:
        """This item as an SSE event block (cached: made once per item)."""
        block = self._sse
        if block is None:
            if self is PING:
                block = b": keep-alive\n\n"
            elif not self.event:
                block = b""
            else:
                head = b"" if self.cursor is None else b"id: " + self.cursor.encode() + b"\n"
                block = b"%sevent: %s\ndata: %s\n\n" % (head, self.event.encode(), self.payload())
            self._sse = block
        return block


#: The heartbeat: a WebSocket ping, an SSE comment that keeps proxies from timing out.
PING = Outgoing("", None, PING_FRAME)


_SSE_NOTIFICATION = b"\nevent: notification\n"


def frame_cursor(frame: bytes) -> str | None:
    """Receipts (issue 17): the cursor of a notification frame as `Outgoing` made it (a
    WebSocket text frame, or an SSE block), read back from its bytes; None for any other
    frame. What a connection flushed is bytes, and it notes its last cursor once per
    flush this way rather than once per item queued."""
    i = frame.find(_NOTIFICATION_HEAD, 0, 10 + len(_NOTIFICATION_HEAD))
    if i >= 0:
        start = i + len(_NOTIFICATION_HEAD)
        return frame[start : frame.index(b'"', start)].decode()
    if frame.startswith(b"id: "):
        end = frame.find(_SSE_NOTIFICATION)
        if end > 0:
            return frame[4:end].decode()
    return None


#: `Outgoing.notification` as first defined: the twin of the compiled maker.
notification_py = Outgoing.notification


def _compiled_notification() -> Callable[[str, bytes], Outgoing] | None:
    module = compiled("_publish")
    if module is None:
        return None
    module.configure_outgoing(Outgoing, _notification_frame, "notification")
    maker: Callable[[str, bytes], Outgoing] = module.outgoing_notification
    return maker


_maker = _compiled_notification()
if _maker is not None:  # every caller's Outgoing.notification(cursor, body) is then one C call
    setattr(Outgoing, "notification", staticmethod(_maker))  # noqa: B010 - replaces a method
