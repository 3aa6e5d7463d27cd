"""Reading client frames: masking, length classes, fragmentation, and the short path for
a small text frame (the protocol errors are in test_frame_errors.py)."""

from __future__ import annotations

import os

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
    _mask_in_place,
    _unmask,
)
from tests.support.client_frames import (
    CONTINUATION,
    LIMIT,
    error_after,
    frame_of,
    utf8_of,
)


def test_helper_uses_every_length_class_and_masks() -> None:
    assert frame_of(TEXT, b"x" * 125)[1] == 0x80 | 125
    assert frame_of(TEXT, b"x" * 126)[1] == 0x80 | 126
    assert frame_of(TEXT, b"x" * 65535)[1] == 0x80 | 126
    assert frame_of(TEXT, b"x" * 65536)[1] == 0x80 | 127
    assert frame_of(TEXT, b"x", masked=False)[1] == 1


# what comes through


@pytest.mark.parametrize("size", [0, 1, 125, 126, 1000, 65535, 65536, 70001])
def test_text_round_trips(size: int) -> None:
    data = utf8_of(size)
    assert FrameReader(LIMIT).feed(frame_of(TEXT, data)) == [Message(TEXT, data, data.decode())]


@pytest.mark.parametrize("size", [5, 125, 300])
def test_text_fed_one_byte_at_a_time(size: int) -> None:
    data = utf8_of(size)
    frame = frame_of(TEXT, data)
    reader = FrameReader(LIMIT)
    for byte in frame[:-1]:
        assert reader.feed(bytes([byte])) == []
    assert reader.feed(frame[-1:]) == [Message(TEXT, data, data.decode())]
    assert reader.feed(b"") == []


def test_a_huge_frame_header_fed_one_byte_at_a_time_waits() -> None:
    reader = FrameReader(LIMIT)
    payload = b"\x00\xff" * 40_000
    frame = frame_of(BINARY, payload)
    for byte in frame[:14]:  # 2 + 8 (64-bit length) + 4 (mask)
        assert reader.feed(bytes([byte])) == []
    assert reader.feed(frame[14:-1]) == []
    assert reader.feed(frame[-1:]) == [Message(BINARY, payload)]


def test_several_frames_in_one_feed_come_out_in_order() -> None:
    data = b"".join(
        [
            frame_of(TEXT, b"one"),
            frame_of(PING, b"p"),
            frame_of(BINARY, b"\x00\x01"),
            frame_of(TEXT, b"x" * 200),
            frame_of(PONG),
            frame_of(TEXT, b""),
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
    second = frame_of(TEXT, b"second")
    reader = FrameReader(LIMIT)
    assert reader.feed(frame_of(TEXT, b"first") + second[:3]) == [Message(TEXT, b"first", "first")]
    assert reader.feed(second[3:] + frame_of(PING)) == [
        Message(TEXT, b"second", "second"),
        Message(PING, b""),
    ]


def test_fragmented_text_is_assembled_around_an_interleaved_ping() -> None:
    text = "fragments: w\xf6rld \u2713"
    data = text.encode()
    cut = data.index("\xf6".encode()) + 1  # split inside a two-byte character
    stream = b"".join(
        [
            frame_of(TEXT, data[:5], fin=False),
            frame_of(CONTINUATION, data[5:cut], fin=False),
            frame_of(PING, b"are you there"),
            frame_of(CONTINUATION, data[cut:], fin=True),
            frame_of(TEXT, b"after"),
        ]
    )
    assert FrameReader(LIMIT).feed(stream) == [
        Message(PING, b"are you there"),
        Message(TEXT, data, text),
        Message(TEXT, b"after", "after"),
    ]


def test_fragments_over_several_feeds() -> None:
    reader = FrameReader(LIMIT)
    assert reader.feed(frame_of(TEXT, b"a", fin=False)) == []
    assert reader.feed(frame_of(CONTINUATION, b"b", fin=False)) == []
    assert reader.feed(frame_of(PONG, b"x")) == [Message(PONG, b"x")]
    assert reader.feed(frame_of(CONTINUATION, b"", fin=False)) == []
    assert reader.feed(frame_of(CONTINUATION, b"c")) == [Message(TEXT, b"abc", "abc")]
    # the message is over: a new one may start, and a continuation may not
    assert reader.feed(frame_of(TEXT, b"d")) == [Message(TEXT, b"d", "d")]
    assert error_after(reader, frame_of(CONTINUATION, b"e")).code == 1002


@pytest.mark.parametrize("size", [0, 3, 126, 65536])
def test_binary_round_trips(size: int) -> None:
    payload = os.urandom(size)
    assert FrameReader(LIMIT).feed(frame_of(BINARY, payload)) == [Message(BINARY, payload)]


def test_fragmented_binary_is_assembled_without_decoding() -> None:
    stream = frame_of(BINARY, b"\xff\xfe", fin=False) + frame_of(CONTINUATION, b"\x80")
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
    assert FrameReader(LIMIT).feed(frame_of(CLOSE, payload)) == [Message(CLOSE, payload)]


@pytest.mark.parametrize("opcode", [PING, PONG])
@pytest.mark.parametrize("size", [0, 1, 125])
def test_ping_and_pong_payloads(opcode: int, size: int) -> None:
    payload = os.urandom(size)
    assert FrameReader(LIMIT).feed(frame_of(opcode, payload)) == [Message(opcode, payload)]


def test_a_message_of_exactly_the_limit_is_accepted() -> None:
    reader = FrameReader(100)
    assert reader.feed(frame_of(BINARY, b"x" * 100)) == [Message(BINARY, b"x" * 100)]
    stream = frame_of(BINARY, b"y" * 60, fin=False) + frame_of(CONTINUATION, b"y" * 40)
    assert reader.feed(stream) == [Message(BINARY, b"y" * 100)]


def test_the_limit_applies_to_each_message_not_the_connection() -> None:
    reader = FrameReader(100)
    for _ in range(5):
        stream = frame_of(TEXT, b"z" * 50, fin=False) + frame_of(CONTINUATION, b"z" * 50)
        assert reader.feed(stream) == [Message(TEXT, b"z" * 100, "z" * 100)]


# the protocol's short path for a client op: one whole small text frame


@given(payload=st.text(max_size=119).map(str.encode).filter(lambda b: len(b) <= 125))
@settings(max_examples=300, deadline=None)
def test_small_text_reads_what_feed_reads(payload: bytes) -> None:
    frame = frame_of(TEXT, payload)
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
        frame_of(TEXT, b""),  # nothing to read: feed's
        frame_of(TEXT, b'{"op":"ping"}', fin=False),  # a fragment
        frame_of(PING, b"x"),
        frame_of(BINARY, b"x"),
        frame_of(TEXT, b"x", masked=False),
        frame_of(TEXT, b"x", rsv=1),
        frame_of(TEXT, b"x" * 126),  # a 16-bit length
        frame_of(TEXT, b"ab") + frame_of(TEXT, b"cd"),  # two frames
        frame_of(TEXT, b"abc")[:-1],  # a partial one
        frame_of(TEXT, b"\xff\xfe"),  # not UTF-8: feed refuses it
    ],
)
def test_small_text_leaves_anything_else_to_feed(data: bytes) -> None:
    assert FrameReader(LIMIT).small_text(data) is None


def test_small_text_waits_behind_a_message_in_progress() -> None:
    reader = FrameReader(LIMIT)
    assert reader.feed(frame_of(TEXT, b"ab", fin=False)) == []
    assert reader.small_text(frame_of(TEXT, b"cd")) is None
