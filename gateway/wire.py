"""What goes over the WebSocket, as bytes: server frames and the JSON events they carry.

Sans-I/O (no asyncio, no aiohttp): the fan-out builds each notification's complete
WebSocket frame here once and hands the same bytes object to every recipient's transport.
Server-to-client frames are never masked (RFC 6455 §5.1), so one encoding serves all.
"""

from __future__ import annotations

import struct
from typing import Any

import pydantic_core

__all__ = [
    "PING_FRAME",
    "close_frame",
    "encode_event",
    "notification_frame",
    "pong_frame",
    "text_frame",
]

_FIN_TEXT = 0x81
_FIN_PING = 0x89
_FIN_PONG = 0x8A
_FIN_CLOSE = 0x88

#: An empty ping, sent by the heartbeat.
PING_FRAME = bytes((_FIN_PING, 0))


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame holding `payload` (UTF-8 JSON)."""
    return _header(_FIN_TEXT, len(payload)) + payload


def _header(first: int, size: int) -> bytes:
    """The header of an unmasked frame carrying `size` payload bytes."""
    if size < 126:
        return bytes((first, size))
    if size < 1 << 16:
        return struct.pack("!BBH", first, 126, size)
    return struct.pack("!BBQ", first, 127, size)


def encode_event(event: str, **fields: Any) -> bytes:
    """A non-notification event (`welcome`, `subscribed`, `error`, ...) as a ready frame."""
    return text_frame(pydantic_core.to_json({"event": event, **fields}))


_NOTIFICATION_HEAD = b'{"event":"notification","cursor":"'
_NOTIFICATION_MID = b'","notification":'
_NOTIFICATION_FIXED = len(_NOTIFICATION_HEAD) + len(_NOTIFICATION_MID) + 1


def notification_frame(cursor: str, notification_json: bytes) -> bytes:
    """The `notification` event frame, spliced from the already-encoded notification object.

    Built in one join, header included (one copy of the body per publish, not two). Every
    log's cursors are `[0-9a-z.]+-[0-9]+` (log/base.py), which JSON does not escape: they
    go in as they are, and anything else is encoded properly.
    """
    if cursor.isprintable() and '"' not in cursor and "\\" not in cursor:
        cursor_bytes = cursor.encode()
    else:
        cursor_bytes = pydantic_core.to_json(cursor)[1:-1]
    size = _NOTIFICATION_FIXED + len(cursor_bytes) + len(notification_json)
    return b"".join(
        (
            _header(_FIN_TEXT, size),
            _NOTIFICATION_HEAD,
            cursor_bytes,
            _NOTIFICATION_MID,
            notification_json,
            b"}",
        )
    )


def pong_frame(payload: bytes) -> bytes:
    """The answer to a peer's ping (the reader has checked its payload is <= 125 bytes)."""
    return bytes((_FIN_PONG, len(payload))) + payload


def close_frame(code: int, reason: str) -> bytes:
    """A close frame with `code` and `reason`, cut to fit the 125-byte control-frame limit
    on a character boundary (a close reason must be valid UTF-8)."""
    text = reason.encode()[:123].decode("utf-8", "ignore").encode()
    payload = code.to_bytes(2, "big") + text
    return bytes((_FIN_CLOSE, len(payload))) + payload
