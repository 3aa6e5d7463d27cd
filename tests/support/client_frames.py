"""Client frames as bytes for the frame reader's tests (tests/unit/test_frames.py,
tests/unit/test_frame_errors.py): masked, in any length class, and the errors they raise."""

from __future__ import annotations

import os
import struct

import pytest

from gateway.websocket.frames import CLOSE, FrameReader, ProtocolError

__all__ = [
    "CONTINUATION",
    "LIMIT",
    "close_of",
    "error_after",
    "error_of",
    "frame_of",
    "header_of",
    "utf8_of",
]

CONTINUATION = 0x0
LIMIT = 1 << 20


def header_of(
    opcode: int,
    length: int,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
) -> bytes:
    """A frame header in the shortest length class (7, 16 or 64 bits); masked unless mask=b""."""
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    mask = os.urandom(4) if mask is None else mask
    bit = 0x80 if mask else 0
    if length < 126:
        head = struct.pack("!BB", first, bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, bit | 127, length)
    return head + mask


def frame_of(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
) -> bytes:
    """A complete client frame, masked with a random key as RFC 6455 §5.3 asks."""
    mask = os.urandom(4) if masked else b""
    header = header_of(opcode, len(payload), fin=fin, rsv=rsv, mask=mask)
    if not masked:
        return header + payload
    return header + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def utf8_of(size: int) -> bytes:
    """Exactly `size` bytes of valid UTF-8 mixing one- to four-byte characters."""
    data = ("h\xe9\u2713\U0001f600" * size).encode()[:size].decode("utf-8", "ignore").encode()
    return data + b"x" * (size - len(data))


def error_of(data: bytes, limit: int = LIMIT) -> ProtocolError:
    return error_after(FrameReader(limit), data)


def error_after(reader: FrameReader, data: bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        reader.feed(data)
    return info.value


def close_of(code: int, reason: bytes = b"") -> bytes:
    return frame_of(CLOSE, code.to_bytes(2, "big") + reason)
