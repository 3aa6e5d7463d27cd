"""Server-to-client WebSocket frames as bytes, sans-I/O (no asyncio, no aiohttp).

Server frames are never masked (RFC 6455 §5.1), so one encoding serves every recipient:
`connection/outgoing.py` builds each event's frame once with these and the fan-out hands
the same bytes to every WebSocket connection.
"""

from __future__ import annotations

import struct

__all__ = [
    "PING_FRAME",
    "close_frame",
    "frame_header",
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
    return frame_header(_FIN_TEXT, len(payload)) + payload


def frame_header(first: int, size: int) -> bytes:
    """The header of an unmasked frame carrying `size` payload bytes."""
    if size < 126:
        return bytes((first, size))
    if size < 1 << 16:
        return struct.pack("!BBH", first, 126, size)
    return struct.pack("!BBQ", first, 127, size)


def pong_frame(payload: bytes) -> bytes:
    """The answer to a peer's ping (the reader has checked its payload is <= 125 bytes)."""
    return bytes((_FIN_PONG, len(payload))) + payload


def close_frame(code: int, reason: str) -> bytes:
    """A close frame with `code` and `reason`, cut to fit the 125-byte control-frame limit
    on a character boundary (a close reason must be valid UTF-8)."""
    text = reason.encode()[:123].decode("utf-8", "ignore").encode()
    payload = code.to_bytes(2, "big") + text
    return bytes((_FIN_CLOSE, len(payload))) + payload
