"""Reading client frames: masking, length classes, fragmentation and every protocol error."""

from __future__ import annotations

import os
import struct
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.websocket.frames import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    FrameReader,
    Message,
    ProtocolError,
    _mask_in_place,
    _unmask,
)

CONTINUATION = 0x0
LIMIT = 1 << 20


def _header(
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


def _frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
) -> bytes:
    """A complete client frame, masked with a random key as RFC 6455 §5.3 asks."""
    mask = os.urandom(4) if masked else b""
    header = _header(opcode, len(payload), fin=fin, rsv=rsv, mask=mask)
    if not masked:
        return header + payload
    return header + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def _utf8(size: int) -> bytes:
    """Exactly `size` bytes of valid UTF-8 mixing one- to four-byte characters."""
    data = ("h\xe9\u2713\U0001f600" * size).encode()[:size].decode("utf-8", "ignore").encode()
    return data + b"x" * (size - len(data))


def _error(data: bytes, limit: int = LIMIT) -> ProtocolError:
    return _error_after(FrameReader(limit), data)


def _error_after(reader: FrameReader, data: bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        reader.feed(data)
    return info.value


def _close(code: int, reason: bytes = b"") -> bytes:
    return _frame(CLOSE, code.to_bytes(2, "big") + reason)


def test_helper_uses_every_length_class_and_masks() -> None:
    assert _frame(TEXT, b"x" * 125)[1] == 0x80 | 125
    assert _frame(TEXT, b"x" * 126)[1] == 0x80 | 126
    assert _frame(TEXT, b"x" * 65535)[1] == 0x80 | 126
    assert _frame(TEXT, b"x" * 65536)[1] == 0x80 | 127
    assert _frame(TEXT, b"x", masked=False)[1] == 1


# what comes through


@pytest.mark.parametrize("size", [0, 1, 125, 126, 1000, 65535, 65536, 70001])
def test_text_round_trips(size: int) -> None:
    data = _utf8(size)
    assert FrameReader(LIMIT).feed(_frame(TEXT, data)) == [Message(TEXT, data, data.decode())]


@pytest.mark.parametrize("size", [5, 125, 300])
def test_text_fed_one_byte_at_a_time(size: int) -> None:
    data = _utf8(size)
    frame = _frame(TEXT, data)
    reader = FrameReader(LIMIT)
    for byte in frame[:-1]:
        assert reader.feed(bytes([byte])) == []
    assert reader.feed(frame[-1:]) == [Message(TEXT, data, data.decode())]
    assert reader.feed(b"") == []


def test_a_huge_frame_header_fed_one_byte_at_a_time_waits() -> None:
    reader = FrameReader(LIMIT)
    payload = b"\x00\xff" * 40_000
    frame = _frame(BINARY, payload)
    for byte in frame[:14]:  # 2 + 8 (64-bit length) + 4 (mask)
        assert reader.feed(bytes([byte])) == []
    assert reader.feed(frame[14:-1]) == []
    assert reader.feed(frame[-1:]) == [Message(BINARY, payload)]


def test_several_frames_in_one_feed_come_out_in_order() -> None:
    data = b"".join(
        [
            _frame(TEXT, b"one"),
            _frame(PING, b"p"),
            _frame(BINARY, b"\x00\x01"),
            _frame(TEXT, b"x" * 200),
            _frame(PONG),
            _frame(TEXT, b""),
        ]
    )
    assert FrameReader(LIMIT).feed(data) == [
        Message(TEXT, b"one", "one"),
        Message(PING, b"p"),
        Message(BINARY, b"\x00\x01"),
        Message(TEXT, b"x" * 200, "x" * 200),
        Message(PONG, b""),
        Message(TEXT, b"", ""),
    ]


def test_a_partial_frame_waits_for_the_next_feed() -> None:
    second = _frame(TEXT, b"second")
    reader = FrameReader(LIMIT)
    assert reader.feed(_frame(TEXT, b"first") + second[:3]) == [Message(TEXT, b"first", "first")]
    assert reader.feed(second[3:] + _frame(PING)) == [
        Message(TEXT, b"second", "second"),
        Message(PING, b""),
    ]


def test_fragmented_text_is_assembled_around_an_interleaved_ping() -> None:
    text = "fragments: w\xf6rld \u2713"
    data = text.encode()
    cut = data.index("\xf6".encode()) + 1  # split inside a two-byte character
    stream = b"".join(
        [
            _frame(TEXT, data[:5], fin=False),
            _frame(CONTINUATION, data[5:cut], fin=False),
            _frame(PING, b"are you there"),
            _frame(CONTINUATION, data[cut:], fin=True),
            _frame(TEXT, b"after"),
        ]
    )
    assert FrameReader(LIMIT).feed(stream) == [
        Message(PING, b"are you there"),
        Message(TEXT, data, text),
        Message(TEXT, b"after", "after"),
    ]


def test_fragments_over_several_feeds() -> None:
    reader = FrameReader(LIMIT)
    assert reader.feed(_frame(TEXT, b"a", fin=False)) == []
    assert reader.feed(_frame(CONTINUATION, b"b", fin=False)) == []
    assert reader.feed(_frame(PONG, b"x")) == [Message(PONG, b"x")]
    assert reader.feed(_frame(CONTINUATION, b"", fin=False)) == []
    assert reader.feed(_frame(CONTINUATION, b"c")) == [Message(TEXT, b"abc", "abc")]
    # the message is over: a new one may start, and a continuation may not
    assert reader.feed(_frame(TEXT, b"d")) == [Message(TEXT, b"d", "d")]
    assert _error_after(reader, _frame(CONTINUATION, b"e")).code == 1002


@pytest.mark.parametrize("size", [0, 3, 126, 65536])
def test_binary_round_trips(size: int) -> None:
    payload = os.urandom(size)
    assert FrameReader(LIMIT).feed(_frame(BINARY, payload)) == [Message(BINARY, payload)]


def test_fragmented_binary_is_assembled_without_decoding() -> None:
    stream = _frame(BINARY, b"\xff\xfe", fin=False) + _frame(CONTINUATION, b"\x80")
    assert FrameReader(LIMIT).feed(stream) == [Message(BINARY, b"\xff\xfe\x80")]


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x03\xe8",
        b"\x03\xe8bye",
        b"\x0f\xa0" + "d\xe9j\xe0 vu".encode(),
        b"\x03\xe9" + b"r" * 123,
    ],
)
def test_close_payload_is_returned(payload: bytes) -> None:
    assert FrameReader(LIMIT).feed(_frame(CLOSE, payload)) == [Message(CLOSE, payload)]


@pytest.mark.parametrize("opcode", [PING, PONG])
@pytest.mark.parametrize("size", [0, 1, 125])
def test_ping_and_pong_payloads(opcode: int, size: int) -> None:
    payload = os.urandom(size)
    assert FrameReader(LIMIT).feed(_frame(opcode, payload)) == [Message(opcode, payload)]


def test_a_message_of_exactly_the_limit_is_accepted() -> None:
    reader = FrameReader(100)
    assert reader.feed(_frame(BINARY, b"x" * 100)) == [Message(BINARY, b"x" * 100)]
    stream = _frame(BINARY, b"y" * 60, fin=False) + _frame(CONTINUATION, b"y" * 40)
    assert reader.feed(stream) == [Message(BINARY, b"y" * 100)]


def test_the_limit_applies_to_each_message_not_the_connection() -> None:
    reader = FrameReader(100)
    for _ in range(5):
        stream = _frame(TEXT, b"z" * 50, fin=False) + _frame(CONTINUATION, b"z" * 50)
        assert reader.feed(stream) == [Message(TEXT, b"z" * 100, "z" * 100)]


# protocol errors


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_frame(TEXT, b"hi", masked=False), id="unmasked-text"),
        pytest.param(_frame(CLOSE, b"\x03\xe8", masked=False), id="unmasked-close"),
        pytest.param(_frame(TEXT, b"hi", rsv=0b100), id="rsv1"),
        pytest.param(_frame(TEXT, b"hi", rsv=0b010), id="rsv2"),
        pytest.param(_frame(TEXT, b"hi", rsv=0b001), id="rsv3"),
        pytest.param(_frame(PING, b"", rsv=0b100), id="rsv1-ping"),
        *(
            pytest.param(_frame(opcode, b"hi"), id=f"opcode-{opcode:#x}")
            for opcode in (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF)
        ),
        pytest.param(_frame(PING, b"p" * 126), id="ping-126"),
        pytest.param(_frame(PONG, b"p" * 126), id="pong-126"),
        pytest.param(_frame(CLOSE, b"\x03\xe8" + b"r" * 124), id="close-126"),
        pytest.param(_frame(PING, b"p", fin=False), id="fragmented-ping"),
        pytest.param(_frame(PONG, b"", fin=False), id="fragmented-pong"),
        pytest.param(_frame(CLOSE, b"\x03\xe8", fin=False), id="fragmented-close"),
        pytest.param(_frame(CONTINUATION, b"orphan"), id="continuation-without-start"),
        pytest.param(_frame(CONTINUATION, b"orphan", fin=False), id="continuation-fin0-no-start"),
        pytest.param(
            _frame(TEXT, b"a", fin=False) + _frame(TEXT, b"b"), id="text-inside-fragmented"
        ),
        pytest.param(
            _frame(TEXT, b"a", fin=False) + _frame(BINARY, b"b"), id="binary-inside-fragmented"
        ),
        pytest.param(
            _frame(BINARY, b"a", fin=False) + _frame(TEXT, b"b", fin=False),
            id="fragmented-inside-fragmented",
        ),
        pytest.param(_frame(CLOSE, b"\x03"), id="one-byte-close"),
    ],
)
def test_protocol_errors_are_1002(data: bytes) -> None:
    error = _error(data)
    assert error.code == 1002
    assert error.reason and str(error) == error.reason


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_frame(TEXT, b"\xff"), id="invalid-byte"),
        pytest.param(_frame(TEXT, b"caf\xc3"), id="truncated-sequence"),
        pytest.param(_frame(TEXT, b"\xc0\xaf"), id="overlong"),
        pytest.param(_frame(TEXT, b"\xed\xa0\x80"), id="surrogate"),
        pytest.param(_frame(TEXT, b"\xf4\x90\x80\x80"), id="above-u10ffff"),
        pytest.param(
            _frame(TEXT, b"ok", fin=False) + _frame(CONTINUATION, b"\xc3"), id="fragmented"
        ),
        pytest.param(_close(1000, b"\xff"), id="close-reason"),
    ],
)
def test_invalid_utf8_is_1007(data: bytes) -> None:
    assert _error(data).code == 1007


def test_header_errors_need_only_two_bytes() -> None:
    assert _error(_frame(TEXT, b"x" * 1000, masked=False)[:2]).code == 1002
    assert _error(_frame(0x3, b"x" * 1000)[:2]).code == 1002
    assert _error(_frame(TEXT, b"x" * 1000, rsv=0b010)[:2]).code == 1002


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
    header = _header(opcode, length)  # no payload byte at all
    error = _error(header, limit=100)
    assert error.code == 1009
    assert "100" in error.reason


def test_a_first_fragment_over_the_limit_is_refused_from_its_header() -> None:
    assert _error(_header(TEXT, 1 << 40, fin=False), limit=100).code == 1009


def test_fragments_over_the_limit_together_are_1009() -> None:
    reader = FrameReader(100)
    assert reader.feed(_frame(TEXT, b"a" * 60, fin=False)) == []
    assert reader.feed(_frame(CONTINUATION, b"a" * 30, fin=False)) == []
    error = _error_after(reader, _header(CONTINUATION, 11))  # 60 + 30 + 11: refused unread
    assert error.code == 1009


def test_fragments_over_the_limit_in_one_feed_are_1009() -> None:
    stream = _frame(BINARY, b"b" * 60, fin=False) + _frame(CONTINUATION, b"b" * 60)
    assert _error(stream, limit=100).code == 1009


# close codes and fragment bounds


@pytest.mark.parametrize("code", [0, 999, 1005, 1006, 1015])
def test_a_close_code_that_may_not_be_sent_is_1002(code: int) -> None:
    assert _error(_close(code)).code == 1002


def test_a_message_in_many_fragments_is_assembled() -> None:
    pieces = 5000  # continuations after the first frame
    stream = _frame(TEXT, b"a", fin=False) + b"".join(
        _frame(CONTINUATION, b"a", fin=i == pieces - 1) for i in range(pieces)
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
    stream = _frame(TEXT, b"a", fin=False) + _frame(CONTINUATION, b"a", fin=False) * 3999
    held = _held_by(FrameReader(limit), stream)
    assert held < limit + 1024, held


def test_empty_fragments_hold_nothing() -> None:
    stream = _frame(TEXT, b"", fin=False) + _frame(CONTINUATION, b"", fin=False) * 20_000
    assert _held_by(FrameReader(4096), stream) < 1024


def test_fragments_up_to_the_limit_and_one_byte_more() -> None:
    reader = FrameReader(100)
    assert reader.feed(_frame(TEXT, b"a" * 50, fin=False)) == []
    for _ in range(50):
        assert reader.feed(_frame(CONTINUATION, b"a", fin=False)) == []
    assert _error_after(reader, _frame(CONTINUATION, b"a")).code == 1009


# payload lengths (RFC 6455 §5.2)


def test_a_64_bit_length_with_its_top_bit_set_is_1002() -> None:
    """ "the most significant bit MUST be 0": a framing error (1002), not a size (1009)."""
    error = _error(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 63) + os.urandom(4), limit=100)
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
    error = _error(header + os.urandom(4))
    assert error.code == 1002
    assert "shortest form" in error.reason


def test_messages_before_a_bad_frame_in_the_same_feed_come_with_the_error() -> None:
    """They were valid, so the connection answers them before it closes with the error."""
    stream = _frame(TEXT, b"one") + _frame(PING, b"p") + _frame(TEXT, b"x", rsv=0b010)
    error = _error(stream)
    assert error.code == 1002
    assert error.messages == [Message(TEXT, b"one", "one"), Message(PING, b"p")]


def test_a_reader_between_messages_holds_no_fragment_buffer() -> None:
    """An idle connection's reader is its slots and an empty frame buffer: a buffer for
    fragments exists only while a message is coming in pieces (each costs 56 bytes more,
    over 20,000 idle connections a megabyte)."""
    message = _frame(TEXT, b"ab", fin=False) + _frame(CONTINUATION, b"c")
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


# the protocol's short path for a client op: one whole small text frame


@given(payload=st.text(max_size=119).map(str.encode).filter(lambda b: len(b) <= 125))
@settings(max_examples=300, deadline=None)
def test_small_text_reads_what_feed_reads(payload: bytes) -> None:
    frame = _frame(TEXT, payload)
    if len(payload) > 0:
        assert FrameReader(LIMIT).small_text(frame) == payload.decode()
    assert FrameReader(LIMIT).feed(frame) == [Message(TEXT, payload, payload.decode())]


@given(payload=st.binary(min_size=1, max_size=125), mask=st.binary(min_size=4, max_size=4))
@settings(max_examples=300, deadline=None)
def test_the_borrowed_unmask_is_the_same_xor(payload: bytes, mask: bytes) -> None:
    """aiohttp's Cython XOR (used for small frames) and ours (the fallback) agree."""
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    assert _unmask(masked, mask) == payload
    if _mask_in_place is not None:
        buf = bytearray(masked)
        _mask_in_place(mask, buf)
        assert buf == payload


@pytest.mark.parametrize(
    "data",
    [
        _frame(TEXT, b""),  # nothing to read: feed's
        _frame(TEXT, b'{"op":"ping"}', fin=False),  # a fragment
        _frame(PING, b"x"),
        _frame(BINARY, b"x"),
        _frame(TEXT, b"x", masked=False),
        _frame(TEXT, b"x", rsv=1),
        _frame(TEXT, b"x" * 126),  # a 16-bit length
        _frame(TEXT, b"ab") + _frame(TEXT, b"cd"),  # two frames
        _frame(TEXT, b"abc")[:-1],  # a partial one
        _frame(TEXT, b"\xff\xfe"),  # not UTF-8: feed refuses it
    ],
)
def test_small_text_leaves_anything_else_to_feed(data: bytes) -> None:
    assert FrameReader(LIMIT).small_text(data) is None


def test_small_text_waits_behind_a_message_in_progress() -> None:
    reader = FrameReader(LIMIT)
    assert reader.feed(_frame(TEXT, b"ab", fin=False)) == []
    assert reader.small_text(_frame(TEXT, b"cd")) is None
