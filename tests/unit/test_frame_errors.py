"""Reading client frames: every protocol error, close codes, fragment bounds and payload
lengths (RFC 6455 §5.2)."""

from __future__ import annotations

import os
import struct
import tracemalloc

import pytest

from gateway.websocket.frames import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    FrameReader,
    Message,
)
from tests.support.client_frames import (
    CONTINUATION,
    LIMIT,
    close_of,
    error_after,
    error_of,
    frame_of,
    header_of,
)

# protocol errors


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(frame_of(TEXT, b"hi", masked=False), id="unmasked-text"),
        pytest.param(frame_of(CLOSE, b"\x03\xe8", masked=False), id="unmasked-close"),
        pytest.param(frame_of(TEXT, b"hi", rsv=0b100), id="rsv1"),
        pytest.param(frame_of(TEXT, b"hi", rsv=0b010), id="rsv2"),
        pytest.param(frame_of(TEXT, b"hi", rsv=0b001), id="rsv3"),
        pytest.param(frame_of(PING, b"", rsv=0b100), id="rsv1-ping"),
        *(
            pytest.param(frame_of(opcode, b"hi"), id=f"opcode-{opcode:#x}")
            for opcode in (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF)
        ),
        pytest.param(frame_of(PING, b"p" * 126), id="ping-126"),
        pytest.param(frame_of(PONG, b"p" * 126), id="pong-126"),
        pytest.param(frame_of(CLOSE, b"\x03\xe8" + b"r" * 124), id="close-126"),
        pytest.param(frame_of(PING, b"p", fin=False), id="fragmented-ping"),
        pytest.param(frame_of(PONG, b"", fin=False), id="fragmented-pong"),
        pytest.param(frame_of(CLOSE, b"\x03\xe8", fin=False), id="fragmented-close"),
        pytest.param(frame_of(CONTINUATION, b"orphan"), id="continuation-without-start"),
        pytest.param(frame_of(CONTINUATION, b"orphan", fin=False), id="continuation-fin0-no-start"),
        pytest.param(
            frame_of(TEXT, b"a", fin=False) + frame_of(TEXT, b"b"), id="text-inside-fragmented"
        ),
        pytest.param(
            frame_of(TEXT, b"a", fin=False) + frame_of(BINARY, b"b"), id="binary-inside-fragmented"
        ),
        pytest.param(
            frame_of(BINARY, b"a", fin=False) + frame_of(TEXT, b"b", fin=False),
            id="fragmented-inside-fragmented",
        ),
        pytest.param(frame_of(CLOSE, b"\x03"), id="one-byte-close"),
    ],
)
def test_protocol_errors_are_1002(data: bytes) -> None:
    error = error_of(data)
    assert error.code == 1002
    assert error.reason and str(error) == error.reason


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(frame_of(TEXT, b"\xff"), id="invalid-byte"),
        pytest.param(frame_of(TEXT, b"caf\xc3"), id="truncated-sequence"),
        pytest.param(frame_of(TEXT, b"\xc0\xaf"), id="overlong"),
        pytest.param(frame_of(TEXT, b"\xed\xa0\x80"), id="surrogate"),
        pytest.param(frame_of(TEXT, b"\xf4\x90\x80\x80"), id="above-u10ffff"),
        pytest.param(
            frame_of(TEXT, b"ok", fin=False) + frame_of(CONTINUATION, b"\xc3"), id="fragmented"
        ),
        pytest.param(close_of(1000, b"\xff"), id="close-reason"),
    ],
)
def test_invalid_utf8_is_1007(data: bytes) -> None:
    assert error_of(data).code == 1007


def test_header_errors_need_only_two_bytes() -> None:
    assert error_of(frame_of(TEXT, b"x" * 1000, masked=False)[:2]).code == 1002
    assert error_of(frame_of(0x3, b"x" * 1000)[:2]).code == 1002
    assert error_of(frame_of(TEXT, b"x" * 1000, rsv=0b010)[:2]).code == 1002


@pytest.mark.parametrize(
    ("opcode", "length"),
    [
        (TEXT, 101),
        (BINARY, 1 << 16),
        (TEXT, 1 << 40),
        (BINARY, (1 << 63) - 1),
    ],
)
def test_a_frame_over_the_limit_is_refused_from_its_header(opcode: int, length: int) -> None:
    header = header_of(opcode, length)  # no payload byte at all
    error = error_of(header, limit=100)
    assert error.code == 1009
    assert "100" in error.reason


def test_a_first_fragment_over_the_limit_is_refused_from_its_header() -> None:
    assert error_of(header_of(TEXT, 1 << 40, fin=False), limit=100).code == 1009


def test_fragments_over_the_limit_together_are_1009() -> None:
    reader = FrameReader(100)
    assert reader.feed(frame_of(TEXT, b"a" * 60, fin=False)) == []
    assert reader.feed(frame_of(CONTINUATION, b"a" * 30, fin=False)) == []
    error = error_after(reader, header_of(CONTINUATION, 11))  # 60 + 30 + 11: refused unread
    assert error.code == 1009


def test_fragments_over_the_limit_in_one_feed_are_1009() -> None:
    stream = frame_of(BINARY, b"b" * 60, fin=False) + frame_of(CONTINUATION, b"b" * 60)
    assert error_of(stream, limit=100).code == 1009


# close codes and fragment bounds


@pytest.mark.parametrize("code", [0, 999, 1005, 1006, 1015])
def test_a_close_code_that_may_not_be_sent_is_1002(code: int) -> None:
    assert error_of(close_of(code)).code == 1002


def test_a_message_in_many_fragments_is_assembled() -> None:
    pieces = 5000  # continuations after the first frame
    stream = frame_of(TEXT, b"a", fin=False) + b"".join(
        frame_of(CONTINUATION, b"a", fin=i == pieces - 1) for i in range(pieces)
    )
    assert FrameReader(LIMIT).feed(stream) == [Message(TEXT, b"a" * (pieces + 1), "a" * 5001)]


def _held_by(reader: FrameReader, stream: bytes) -> int:
    """Bytes still allocated after `reader` took `stream` (one feed per frame)."""
    frames = []
    pos = 0
    while pos < len(stream):
        size = 6 + (stream[pos + 1] & 0x7F)  # masked, payloads < 126 bytes here
        frames.append(stream[pos : pos + size])
        pos += size
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for frame in frames:
            assert reader.feed(frame) == []
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_an_unfinished_message_in_tiny_fragments_holds_no_more_than_its_bytes() -> None:
    """4,000 one-byte fragments of a message not finished yet: about 4,000 bytes held, not
    an object per fragment (which was over 100 KiB against a 4 KiB limit)."""
    limit = 4096
    stream = frame_of(TEXT, b"a", fin=False) + frame_of(CONTINUATION, b"a", fin=False) * 3999
    held = _held_by(FrameReader(limit), stream)
    assert held < limit + 1024, held


def test_empty_fragments_hold_nothing() -> None:
    stream = frame_of(TEXT, b"", fin=False) + frame_of(CONTINUATION, b"", fin=False) * 20_000
    assert _held_by(FrameReader(4096), stream) < 1024


def test_fragments_up_to_the_limit_and_one_byte_more() -> None:
    reader = FrameReader(100)
    assert reader.feed(frame_of(TEXT, b"a" * 50, fin=False)) == []
    for _ in range(50):
        assert reader.feed(frame_of(CONTINUATION, b"a", fin=False)) == []
    assert error_after(reader, frame_of(CONTINUATION, b"a")).code == 1009


# payload lengths (RFC 6455 §5.2)


def test_a_64_bit_length_with_its_top_bit_set_is_1002() -> None:
    """ "the most significant bit MUST be 0": a framing error (1002), not a size (1009)."""
    error = error_of(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 63) + os.urandom(4), limit=100)
    assert error.code == 1002
    assert "most significant bit" in error.reason


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(struct.pack("!BBH", 0x81, 0x80 | 126, 125), id="16-bit-for-125"),
        pytest.param(struct.pack("!BBQ", 0x81, 0x80 | 127, 65535), id="64-bit-for-65535"),
        pytest.param(struct.pack("!BBQ", 0x81, 0x80 | 127, 0), id="64-bit-for-0"),
    ],
)
def test_a_length_not_in_its_shortest_form_is_1002(header: bytes) -> None:
    error = error_of(header + os.urandom(4))
    assert error.code == 1002
    assert "shortest form" in error.reason


def test_messages_before_a_bad_frame_in_the_same_feed_come_with_the_error() -> None:
    """They were valid, so the connection answers them before it closes with the error."""
    stream = frame_of(TEXT, b"one") + frame_of(PING, b"p") + frame_of(TEXT, b"x", rsv=0b010)
    error = error_of(stream)
    assert error.code == 1002
    assert error.messages == [Message(TEXT, b"one", "one"), Message(PING, b"p")]


def test_a_reader_between_messages_holds_no_fragment_buffer() -> None:
    """An idle connection's reader is its slots and an empty frame buffer: a buffer for
    fragments exists only while a message is coming in pieces (each costs 56 bytes more,
    over 20,000 idle connections a megabyte)."""
    message = frame_of(TEXT, b"ab", fin=False) + frame_of(CONTINUATION, b"c")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fresh = [FrameReader(LIMIT) for _ in range(1000)]
        after_fresh = tracemalloc.get_traced_memory()[0]
        used = [FrameReader(LIMIT) for _ in range(1000)]
        for reader in used:
            assert reader.feed(message) == [Message(TEXT, b"abc", "abc")]
        after_used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(fresh) == len(used)
    assert (after_fresh - before) / 1000 < 160
    assert (after_used - after_fresh) / 1000 < 160
