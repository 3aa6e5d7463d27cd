"""Reading client-to-server WebSocket frames (RFC 6455 §5), sans-I/O.

`FrameReader.feed()` takes whatever bytes arrived and returns the complete messages in
them: text (checked UTF-8), binary, ping, pong and close, with fragmented messages put
back together. Anything the RFC forbids raises `ProtocolError` with the close code to send.
A frame over the size limit is refused from its header, before its payload is buffered,
and the fragments of an unfinished message are joined into one buffer as they come, so
a client cannot make the server hold more than the limit (plus one frame header).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple, cast

from gateway.closecodes import CloseCode
from gateway.speedups import compiled

try:  # aiohttp's XOR of a payload with its mask, in Cython (aiohttp is a dependency already)
    from aiohttp._websocket.mask import (  # type: ignore[import-not-found]
        _websocket_mask_cython as _mask_in_place,
    )
except ImportError:  # pragma: no cover - an aiohttp built without its extensions
    _mask_in_place = None

__all__ = [
    "BINARY",
    "CLOSE",
    "PING",
    "PONG",
    "TEXT",
    "FrameReader",
    "Message",
    "ProtocolError",
    "small_text",
    "small_text_py",
]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_DATA = frozenset((TEXT, BINARY))
_CONTROL = frozenset((CLOSE, PING, PONG))
_NOT_MINIMAL = "payload length not in its shortest form (RFC 6455 §5.2)"
#: The first byte of a whole text frame (FIN, no reserved bits, opcode 1).
_SMALL_TEXT = 0x80 | TEXT


class ProtocolError(Exception):
    """The peer broke the protocol; close the connection with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        #: The complete messages that came before the offending frame in the same feed:
        #: they were valid, so they are answered before the connection is closed.
        self.messages: list[Message] = []


class Message(NamedTuple):
    opcode: int
    #: The payload; for TEXT also decoded as `text`.
    data: bytes
    text: str = ""


_message = partial(tuple.__new__, Message)


def small_text_py(data: bytes, limit: int) -> str | None:
    """`FrameReader.small_text`'s frame checks and decode (no message in progress): the
    twin of the compiled `gateway._wsframe.small_text` and its fallback."""
    if (
        len(data) > 6
        and data[0] == _SMALL_TEXT
        and 0x80 < data[1] < 0xFE
        and len(data) == 6 + (data[1] & 0x7F)
        and len(data) - 6 <= limit
    ):
        if _mask_in_place is None:  # pragma: no cover - see the import
            payload: bytes | bytearray = _unmask(data[6:], data[2:6])
        else:  # under half the instructions of `_unmask` for an op's few dozen bytes
            payload = bytearray(data[6:])
            _mask_in_place(data[2:6], payload)
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _load() -> Callable[[bytes, int], str | None]:
    module = compiled("_wsframe")
    return (
        small_text_py
        if module is None
        else cast(Callable[[bytes, int], str | None], module.small_text)
    )


#: One whole small text frame's text, compiled (gateway/csrc/wsframe.c) unless
#: GATEWAY_NO_SPEEDUPS=1 or the module is missing: ~6k instructions in Python, per op.
small_text = _load()


class FrameReader:
    __slots__ = ("_buf", "_fragments", "_limit", "_opcode")

    def __init__(self, limit: int) -> None:
        #: The largest message (payload bytes, all fragments together) accepted.
        self._limit = limit
        self._buf = bytearray()
        #: The opcode of the fragmented message in progress, or None.
        self._opcode: int | None = None
        #: The payload of the fragmented message so far, in one buffer (not a list of
        #: pieces, which would cost an object per fragment however small); None between
        #: messages, so an idle connection holds no buffer for it.
        self._fragments: bytearray | None = None

    def feed(self, data: bytes) -> list[Message]:
        """The complete messages that `data` finishes; the rest waits for more bytes."""
        text = self.small_text(data)
        if text is not None:
            return [_message((TEXT, text.encode(), text))]
        buf = self._buf
        buf += data
        messages: list[Message] = []
        pos = 0
        try:
            while True:
                frame = self._frame(buf, pos)
                if frame is None:
                    break
                pos, fin, opcode, payload = frame
                message = self._message(fin, opcode, payload)
                if message is not None:
                    messages.append(message)
        except ProtocolError as exc:
            exc.messages = messages
            raise
        del buf[:pos]
        return messages

    def small_text(self, data: bytes) -> str | None:
        """The text of `data` if it is one whole small text frame and nothing else, as a
        client op is (an ack most often); None for anything else, which `feed` reads.

        The same rules as `feed`'s, checked in one go (FIN, no reserved bits, masked, a
        minimal length under the limit, no message in progress); invalid UTF-8 is None
        too (then `feed` refuses it)."""
        if self._buf or self._opcode is not None:
            return None
        return small_text(data, self._limit)

    def _frame(self, buf: bytearray, pos: int) -> tuple[int, bool, int, bytes] | None:
        """The frame at `pos`: (end, fin, opcode, unmasked payload); None if incomplete."""
        size = len(buf) - pos
        if size < 2:
            return None
        first, second = buf[pos], buf[pos + 1]
        fin, opcode, length = bool(first & 0x80), first & 0x0F, second & 0x7F
        if first & 0x70:
            raise ProtocolError(
                CloseCode.PROTOCOL_ERROR, "reserved bits set (no extension was negotiated)"
            )
        if opcode not in _DATA and opcode not in _CONTROL and opcode != CONTINUATION:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if not second & 0x80:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "client frames must be masked")
        header = 6
        if length == 126:
            header = 8
            if size < header:
                return None
            length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
            if length < 126:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, _NOT_MINIMAL)
        elif length == 127:
            header = 14
            if size < header:
                return None
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            if length >> 63:
                message = "64-bit payload length with its most significant bit set (RFC 6455 §5.2)"
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, message)
            if length < 1 << 16:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, _NOT_MINIMAL)
        if opcode in _CONTROL and (length > 125 or not fin):
            raise ProtocolError(
                CloseCode.PROTOCOL_ERROR, "control frames must be whole and at most 125 bytes"
            )
        fragments = self._fragments
        pending = len(fragments) if opcode == CONTINUATION and fragments is not None else 0
        if pending + length > self._limit:
            raise ProtocolError(
                CloseCode.MESSAGE_TOO_BIG, f"message over the limit of {self._limit} bytes"
            )
        end = pos + header + length
        if len(buf) < end:
            return None
        mask = bytes(buf[pos + header - 4 : pos + header])
        return end, fin, opcode, _unmask(bytes(buf[pos + header : end]), mask)

    def _message(self, fin: bool, opcode: int, payload: bytes) -> Message | None:
        if opcode in _CONTROL:
            if opcode == CLOSE:
                _check_close(payload)
            return Message(opcode, payload)
        if opcode == CONTINUATION:
            fragments = self._fragments
            if self._opcode is None or fragments is None:
                raise ProtocolError(
                    CloseCode.PROTOCOL_ERROR, "continuation frame without a message to continue"
                )
            fragments += payload
            if not fin:
                return None
            opcode, self._opcode = self._opcode, None
            payload = bytes(fragments)
            self._fragments = None
        elif self._opcode is not None:
            raise ProtocolError(
                CloseCode.PROTOCOL_ERROR, "a new message began inside a fragmented one"
            )
        elif not fin:
            self._opcode = opcode
            self._fragments = bytearray(payload)
            return None
        if opcode == BINARY:
            return Message(opcode, payload)
        try:
            return Message(opcode, payload, payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError(CloseCode.INVALID_DATA, "text message is not valid UTF-8") from None


def _check_close(payload: bytes) -> None:
    if len(payload) == 1:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "close frame with a one-byte payload")
    if payload and not _sendable(int.from_bytes(payload[:2], "big")):
        raise ProtocolError(
            CloseCode.PROTOCOL_ERROR, "close code that may not be sent (RFC 6455 §7.4)"
        )
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(CloseCode.INVALID_DATA, "close reason is not valid UTF-8") from None


def _sendable(code: int) -> bool:
    """Whether a peer may put `code` in a close frame (RFC 6455 §7.4 and IANA's registry)."""
    return (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999


def _unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR `payload` with the repeating 4-byte `mask`, as one big-integer operation."""
    size = len(payload)
    if not size:
        return payload
    key = (mask * (size // 4 + 1))[:size]
    value = int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")
    return value.to_bytes(size, "little")
