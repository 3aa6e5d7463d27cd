"""Hypothesis fuzzes request heads and WebSocket frames against one live gateway.

Every example goes over a real socket; after each one a well-behaved client must still
connect and receive a notification, the answer must be a well-formed HTTP status (never
a 500) or a close code from docs/concepts/close-codes.md, and nothing may log a traceback or
more than one warning line. Examples are bounded (`max_examples`) so the suite stays quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.app import Gateway
from gateway.websocket import protocol as ws_protocol
from tests.support.wsraw import (
    CLOSE,
    PING,
    PONG,
    RawClient,
    frame,
    still_served,
    upgrade,
)

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
STATUS_LINE = re.compile(rb"HTTP/1\.[01] (101|200|400|404|405|408|413|426|431|505) ")
CLOSE_CODES = {1000, 1002, 1007, 1008, 1009}


def _closed_well(code: int, sent: bytes) -> bool:
    """The server's close code is one of its own, or the client's own close echoed back
    (RFC 6455 §5.5.1): a fuzzed close frame may carry any code a peer may send, 3072 say."""
    return code in CLOSE_CODES or code.to_bytes(2, "big") in _unmasked_closes(sent)


def _unmasked_closes(sent: bytes) -> bytes:
    """Every close payload's first two bytes in `sent`, unmasked, joined (a loose check)."""
    found = b""
    for i in range(len(sent) - 7):
        if sent[i] == 0x88 and sent[i + 1] & 0x80 and 2 <= sent[i + 1] & 0x7F <= 125:
            mask = sent[i + 2 : i + 6]
            found += bytes(b ^ mask[n % 4] for n, b in enumerate(sent[i + 6 : i + 8]))
    return found


SPECIALS = b" \t\r\n:/?#%&=+,;@[]{}\"'\\\x00\x7f\xff"


class _Loud(logging.Handler):
    """Collects records at warning level and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def loud() -> Iterator[_Loud]:
    handler = _Loud()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@contextlib.contextmanager
def _quiet(loud: _Loud) -> Iterator[None]:
    """At most one warning line and no traceback for what the block sends."""
    start = len(loud.records)
    yield
    records = loud.records[start:]
    assert not [r for r in records if r.exc_info], [r.getMessage() for r in records]
    assert len(records) <= 1, [r.getMessage() for r in records]


def _mutated(base: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(base)
    for at, cut, insert in edits:
        at %= len(data) + 1
        data[at : at + cut] = insert
    return bytes(data)


_byte_soup = st.binary(max_size=8) | st.lists(st.sampled_from(list(SPECIALS)), max_size=4).map(
    bytes
)
_edits = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 6), _byte_soup), max_size=5)
_line_end = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r"])
_token = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", max_size=12)


@st.composite
def _composed(draw: st.DrawFn) -> bytes:
    """A head built from parts, each usually right and sometimes not."""
    end = draw(_line_end)
    method = draw(st.sampled_from([b"GET", b"GET", b"POST", b"HEAD", b"get", b"PRI", b"OPTIONS"]))
    path = draw(st.sampled_from([b"/ws", b"/ws", b"/healthz", b"/wsx", b"*", b"http://h/ws"]))
    query = b"?user_id=" + draw(_token).encode() + draw(_byte_soup)
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b""]))
    lines = [b" ".join(x for x in (method, path + query, version) if x)]
    lines += draw(
        st.lists(
            st.tuples(_token.map(str.encode), _byte_soup | _token.map(str.encode)).map(
                lambda pair: pair[0] + b": " + pair[1]
            ),
            max_size=6,
        )
    )
    if draw(st.booleans()):
        lines += upgrade().split(b"\r\n")[1:-2]  # the upgrade headers, Host included
    return end.join(lines) + end + end


heads = st.one_of(
    st.binary(min_size=1, max_size=300),
    _edits.map(lambda edits: _mutated(upgrade("/ws?user_id=fuzz"), edits)),
    _composed(),
)


@FUZZ
@given(head=heads)
async def test_fuzzed_heads(
    gateway: Gateway, loud: _Loud, monkeypatch: pytest.MonkeyPatch, head: bytes
) -> None:
    monkeypatch.setattr(ws_protocol, "HANDSHAKE_TIMEOUT", 0.5)
    with _quiet(loud):
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
        writer.write(head)
        answer = await asyncio.wait_for(reader.read(4096), 3)
        writer.close()
    if answer:
        assert STATUS_LINE.match(answer), answer[:200]
    await still_served(gateway)


# frames after a valid upgrade

_frames = st.builds(
    lambda opcode, payload, fin, rsv, masked: frame(
        opcode, payload, fin=fin, rsv=rsv, mask=None if masked else b""
    ),
    opcode=st.sampled_from([0x0, 0x1, 0x1, 0x2, 0x8, 0x9, 0xA, 0x3, 0xB]),
    payload=st.binary(max_size=200) | st.text(max_size=60).map(str.encode),
    fin=st.booleans() | st.just(True),
    rsv=st.sampled_from([0, 0, 0, 0, 1, 4]),
    masked=st.booleans() | st.just(True),
)
_ops = st.sampled_from(
    [b'{"op": "ping"}', b'{"op": "subscribe", "topic": "t"}', b'{"op": "x"}', b"[1]", b"{"]
).map(lambda op: frame(0x1, op))


@FUZZ
@given(frames=st.lists(_frames | _ops, min_size=1, max_size=8), chunk=st.integers(1, 64))
@example(frames=[b"\x88\x82\xe1\x06\n\xe7\xed\x06"], chunk=1)  # a client's close 3072: echoed
async def test_fuzzed_frames(
    gateway: Gateway, loud: _Loud, frames: list[bytes], chunk: int
) -> None:
    with _quiet(loud):
        client = await RawClient.open(gateway.http_port, "fuzz")
        data = b"".join(frames) + frame(PING, b"marker")
        for i in range(0, len(data), chunk):
            client.send(data[i : i + chunk])
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:  # up to the marker's pong, or the server's close
                opcode, payload = await client.frame()
                if opcode == CLOSE:
                    assert _closed_well(int.from_bytes(payload[:2], "big"), data), payload
                    break
                if opcode == PONG and payload == b"marker":
                    break
                assert opcode in (0x1, PONG), (opcode, payload)
        client.close()
    await still_served(gateway)


@FUZZ
@given(junk=st.binary(min_size=1, max_size=400))
async def test_random_bytes_after_the_upgrade(gateway: Gateway, loud: _Loud, junk: bytes) -> None:
    with _quiet(loud):
        client = await RawClient.open(gateway.http_port, "fuzz")
        client.send(junk)
        client.writer.write_eof()  # the server may be waiting for the rest of a frame
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            while True:
                opcode, payload = await client.frame()
                if opcode == CLOSE:
                    assert _closed_well(int.from_bytes(payload[:2], "big"), junk), payload
                    break
        client.close()
    await still_served(gateway)
