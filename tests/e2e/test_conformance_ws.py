"""RFC 6455 conformance against the live server, in the spirit of the Autobahn testsuite.

Raw sockets send what browsers never would: every length encoding, reserved bits and
opcodes, fragmentation with control frames between the pieces, UTF-8 split anywhere,
and close frames with every kind of code and reason. Where Autobahn has the server echo,
this gateway answers a `{"op": "ping"}` text with a `pong` event, and a ping frame with
a pong frame carrying the same payload. Grouped as Autobahn groups its cases.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import pytest

from gateway.app import Gateway
from tests.support.gateway import StartGateway
from tests.support.wsraw import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    RawClient,
    close_payload,
    frame,
)

LIMIT = 70_000
OP = b'{"op": "ping"}'
PONG_EVENT = {"event": "pong"}

Expect = tuple[str, Any]


def _op(size: int) -> bytes:
    """A ping op of exactly `size` bytes (JSON allows the trailing spaces)."""
    return OP + b" " * (size - len(OP))


def _subscribe(topic: str) -> bytes:
    return f'{{"op": "subscribe", "topic": "{topic}"}}'.encode()


@pytest.fixture
async def server(start_gateway: StartGateway) -> Gateway:
    return await start_gateway(max_client_frame_bytes=LIMIT)


@pytest.fixture
async def client(server: Gateway) -> Any:
    client = await RawClient.open(server.http_port, "conformance")
    yield client
    client.close()


async def _expect(client: RawClient, expected: list[Expect]) -> None:
    for kind, value in expected:
        if kind == "close":
            code, reason = await client.closed_with()
            assert code == value, (code, reason)
        elif kind == "frame":
            assert await client.frame() == value
        else:
            event = await client.event()
            assert {key: event.get(key) for key in value} == value, event


def _fragments(opcode: int, payload: bytes, cuts: list[int]) -> bytes:
    """`payload` as a fragmented message cut at `cuts`."""
    bounds = [0, *cuts, len(payload)]
    pieces = [payload[a:b] for a, b in itertools.pairwise(bounds)]
    return b"".join(
        frame(opcode if i == 0 else CONTINUATION, piece, fin=i == len(pieces) - 1)
        for i, piece in enumerate(pieces)
    )


PONGED: Expect = ("event", PONG_EVENT)

# 1. framing: payload lengths in each encoding, and what the header may not say

FRAMING: list[Any] = [
    *(
        pytest.param(frame(TEXT, _op(size)), [PONGED], id=f"text-{size}")
        for size in (14, 125, 126, 127, 65535, 65536, LIMIT)
    ),
    pytest.param(
        frame(TEXT, b""), [("event", {"code": "bad_frame", "field": "frame"})], id="empty-text"
    ),
    pytest.param(frame(TEXT, OP) * 5, [PONGED] * 5, id="five-in-one-write"),
    pytest.param(frame(TEXT, OP, form=16), [("close", 1002)], id="16-bit-length-for-14"),
    pytest.param(frame(TEXT, _op(300), form=64), [("close", 1002)], id="64-bit-length-for-300"),
    pytest.param(
        frame(TEXT, b"", length=1 << 63, form=64), [("close", 1002)], id="64-bit-top-bit-set"
    ),
    pytest.param(frame(TEXT, b"", length=LIMIT + 1), [("close", 1009)], id="over-the-limit"),
    pytest.param(frame(TEXT, b"", length=(1 << 63) - 1), [("close", 1009)], id="largest-length"),
    pytest.param(frame(TEXT, OP, mask=b""), [("close", 1002)], id="unmasked-text"),
    pytest.param(frame(PING, b"", mask=b""), [("close", 1002)], id="unmasked-ping"),
    pytest.param(frame(TEXT, OP, mask=b"\0\0\0\0"), [PONGED], id="zero-mask-key"),
    *(
        pytest.param(frame(TEXT, OP, rsv=rsv), [("close", 1002)], id=f"rsv-{rsv}-text")
        for rsv in range(1, 8)
    ),
    pytest.param(frame(PING, b"", rsv=4), [("close", 1002)], id="rsv-ping"),
    pytest.param(
        frame(TEXT, OP[:4], fin=False) + frame(CONTINUATION, OP[4:], rsv=2),
        [("close", 1002)],
        id="rsv-continuation",
    ),
    pytest.param(frame(TEXT, OP) + frame(TEXT, OP, rsv=1), [PONGED, ("close", 1002)], id="rsv-2nd"),
    *(
        pytest.param(frame(op, b"x"), [("close", 1002)], id=f"opcode-{op:#x}")
        for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)
    ),
]


@pytest.mark.parametrize(("data", "expected"), FRAMING)
async def test_framing(client: RawClient, data: bytes, expected: list[Expect]) -> None:
    client.send(data)
    await _expect(client, expected)


async def test_a_frame_sent_a_byte_at_a_time(client: RawClient) -> None:
    for byte in frame(TEXT, _op(300)):
        client.send(bytes((byte,)))
        await client.writer.drain()
    await _expect(client, [PONGED])


# 2. control frames

PAYLOAD_125 = os.urandom(125)

CONTROL: list[Any] = [
    pytest.param(frame(PING, b""), [("frame", (PONG, b""))], id="ping-empty"),
    pytest.param(frame(PING, b"hello"), [("frame", (PONG, b"hello"))], id="ping-text"),
    pytest.param(frame(PING, PAYLOAD_125), [("frame", (PONG, PAYLOAD_125))], id="ping-125-binary"),
    pytest.param(frame(PING, b"x" * 126), [("close", 1002)], id="ping-126"),
    pytest.param(frame(PONG, b"x" * 126), [("close", 1002)], id="pong-126"),
    pytest.param(frame(PING, b"x", fin=False), [("close", 1002)], id="fragmented-ping"),
    pytest.param(
        frame(PING, b"a", fin=False) + frame(CONTINUATION, b"b"),
        [("close", 1002)],
        id="ping-in-two-fragments",
    ),
    pytest.param(frame(PONG, b"unsolicited") + frame(TEXT, OP), [PONGED], id="unsolicited-pong"),
    pytest.param(
        b"".join(frame(PING, bytes((i,))) for i in range(10)),
        [("frame", (PONG, bytes((i,)))) for i in range(10)],
        id="ten-pings",
    ),
]


@pytest.mark.parametrize(("data", "expected"), CONTROL)
async def test_control_frames(client: RawClient, data: bytes, expected: list[Expect]) -> None:
    client.send(data)
    await _expect(client, expected)


# 5. fragmentation

FRAGMENTATION: list[Any] = [
    pytest.param(_fragments(TEXT, OP, [6]), [PONGED], id="two-fragments"),
    pytest.param(_fragments(TEXT, OP, list(range(1, len(OP)))), [PONGED], id="one-byte-each"),
    pytest.param(
        frame(TEXT, b"", fin=False) + frame(CONTINUATION, b"", fin=False) + frame(CONTINUATION, OP),
        [PONGED],
        id="empty-fragments",
    ),
    pytest.param(
        frame(TEXT, OP[:5], fin=False) + frame(PING, b"p") + frame(CONTINUATION, OP[5:]),
        [("frame", (PONG, b"p")), PONGED],
        id="ping-between",
    ),
    pytest.param(
        frame(TEXT, OP[:5], fin=False) + frame(PONG, b"p") + frame(CONTINUATION, OP[5:]),
        [PONGED],
        id="pong-between",
    ),
    pytest.param(frame(CONTINUATION, OP), [("close", 1002)], id="continuation-without-start"),
    pytest.param(
        frame(CONTINUATION, OP, fin=False), [("close", 1002)], id="continuation-fin0-no-start"
    ),
    pytest.param(
        frame(TEXT, OP[:5], fin=False) + frame(TEXT, OP), [("close", 1002)], id="text-in-text"
    ),
    pytest.param(
        frame(TEXT, OP[:5], fin=False) + frame(BINARY, b"b"), [("close", 1002)], id="binary-in-text"
    ),
    pytest.param(
        _fragments(BINARY, b"\x00\x01\x02", [1]),
        [("event", {"code": "bad_frame", "field": "frame"})],
        id="fragmented-binary",
    ),
    pytest.param(
        frame(TEXT, b" " * 40_000, fin=False) + frame(CONTINUATION, b" " * 40_000),
        [("close", 1009)],
        id="fragments-over-the-limit",
    ),
]


@pytest.mark.parametrize(("data", "expected"), FRAGMENTATION)
async def test_fragmentation(client: RawClient, data: bytes, expected: list[Expect]) -> None:
    client.send(data)
    await _expect(client, expected)


async def test_a_binary_frame_is_an_error_event_naming_the_frame(client: RawClient) -> None:
    client.send(frame(BINARY, b"\x00"))
    event = await client.event()
    assert event["event"] == "error" and event["code"] == "bad_frame", event
    assert event["field"] == "frame"


# 6. UTF-8

VALID_TOPICS = ["κόσμε", "日本語", "\U0001f600\U0001f4a9", "a\u00e9\u2713\U0010ffff"]
INVALID_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\xc0\xaf",  # overlong '/'
    b"\xe0\x80\xaf",  # overlong, three bytes
    b"\xf0\x80\x80\xaf",  # overlong, four bytes
    b"\xed\xa0\x80",  # a UTF-16 surrogate
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xf8\x88\x80\x80\x80",  # five bytes
    b"\xce\xba\xe1\xbd",  # truncated at the end
    b"\x80",  # a lone continuation byte
    b"\xc3\x28",
]


@pytest.mark.parametrize("topic", VALID_TOPICS)
async def test_valid_utf8_is_accepted(client: RawClient, topic: str) -> None:
    client.send(frame(TEXT, _subscribe(topic)))
    assert await client.event() == {"event": "subscribed", "topic": topic}


async def test_valid_utf8_split_at_every_byte_is_accepted(client: RawClient) -> None:
    topic = "κόσμε\U0001f600"
    message = _subscribe(topic)
    start = message.index(b'"', 25)
    for cut in range(start, start + len(topic.encode()) + 1):
        client.send(_fragments(TEXT, message, [cut]))
        assert await client.event() == {"event": "subscribed", "topic": topic}, cut


@pytest.mark.parametrize("bad", INVALID_UTF8, ids=[bad.hex() for bad in INVALID_UTF8])
async def test_invalid_utf8_is_1007(client: RawClient, bad: bytes) -> None:
    client.send(frame(TEXT, b'{"op": "subscribe", "topic": "a' + bad + b'"}'))
    await _expect(client, [("close", 1007)])


@pytest.mark.parametrize("bad", INVALID_UTF8[:6], ids=[bad.hex() for bad in INVALID_UTF8[:6]])
async def test_invalid_utf8_in_a_later_fragment_is_1007(client: RawClient, bad: bytes) -> None:
    client.send(frame(TEXT, b'{"op": "subscribe", ', fin=False))
    client.send(frame(CONTINUATION, b'"topic": "a' + bad + b'"}'))
    await _expect(client, [("close", 1007)])


# 7. close frames

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
VALID_CODES += [3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CODES)
async def test_a_valid_close_code_is_echoed(client: RawClient, code: int) -> None:
    client.send(frame(CLOSE, close_payload(code, b"bye")))
    await _expect(client, [("close", code)])


@pytest.mark.parametrize("code", INVALID_CODES)
async def test_a_close_code_no_peer_may_send_is_1002(client: RawClient, code: int) -> None:
    client.send(frame(CLOSE, close_payload(code)))
    await _expect(client, [("close", 1002)])


CLOSES: list[Any] = [
    pytest.param(frame(CLOSE, b""), [("close", 1000)], id="empty"),
    pytest.param(frame(CLOSE, b"\x03"), [("close", 1002)], id="one-byte"),
    pytest.param(
        frame(CLOSE, close_payload(1000, "κόσμε".encode())), [("close", 1000)], id="utf8-reason"
    ),
    pytest.param(
        frame(CLOSE, close_payload(1000, b"\xce\xba\xe1\xbd")), [("close", 1007)], id="bad"
    ),
    pytest.param(frame(CLOSE, close_payload(1000, b"r" * 123)), [("close", 1000)], id="reason-123"),
    pytest.param(frame(CLOSE, close_payload(1000, b"r" * 124)), [("close", 1002)], id="reason-124"),
    pytest.param(
        frame(CLOSE, close_payload(1000)) + frame(TEXT, OP) + frame(PING, b"late"),
        [("close", 1000)],
        id="nothing-after-close",
    ),
    pytest.param(
        frame(TEXT, OP[:5], fin=False) + frame(CLOSE, close_payload(1000)),
        [("close", 1000)],
        id="close-inside-fragments",
    ),
]


@pytest.mark.parametrize(("data", "expected"), CLOSES)
async def test_close_frames(client: RawClient, data: bytes, expected: list[Expect]) -> None:
    client.send(data)
    await _expect(client, expected)
    # nothing follows the close frame: TCP is closed
    assert await asyncio.wait_for(client.reader.read(), 3) == b""
