"""What an anonymous client cannot make the HTTP port hold: heads, replays, log lines.

Each test goes over real sockets to a real gateway; after the hostile part a well-behaved
client must still connect and get a notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from gateway.app import Gateway
from gateway.websocket import protocol as ws_protocol
from gateway.websocket.handshake import MAX_HEAD_BYTES
from tests.support.gateway import StartGateway
from tests.support.logs import assert_quiet
from tests.support.wsraw import exchange, still_served, upgrade

HALF_SENT = [
    pytest.param(b"GET /healthz HTTP/1.1\r\nX-A: 1\r\n", id="healthz"),
    pytest.param(b"GET /ws?user_id=a HTTP/1.0\r\nHost: x\r\n", id="ws-http-1.0"),
    pytest.param(b"GET /wsfoo HTTP/1.1\r\nHost: x\r\n", id="wsfoo"),
    pytest.param(b"GET /ws?user_id=a HTTP/1.1\r\nHost: x\r\n", id="ws"),
    pytest.param(b"POST /metrics HTTP/1.1\r\nContent-Le", id="post"),
    pytest.param(b"G", id="one-byte"),
]


async def _answers(port: int, payload: bytes, count: int) -> list[bytes]:
    """Opens `count` connections that each send `payload`, then reads each until EOF."""
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]
    for _, writer in conns:
        writer.write(payload)
    try:
        return [await asyncio.wait_for(reader.read(), 5) for reader, _ in conns]
    finally:
        for _, writer in conns:
            writer.close()


# 1. slowloris


@pytest.mark.parametrize("payload", HALF_SENT)
async def test_half_sent_heads_on_any_route_are_closed_at_the_deadline(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, payload: bytes
) -> None:
    monkeypatch.setattr(ws_protocol, "HANDSHAKE_TIMEOUT", 0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    answers = await _answers(gateway.http_port, payload, 30)
    assert loop.time() - started < 2.5
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer[:80]
        assert b'"request_timeout"' in answer
    assert gateway.service.metrics.heads_timed_out == 30
    await still_served(gateway)


async def test_each_half_sent_head_gets_its_own_full_deadline(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One timer serves every connection still sending its head. It must not answer one
    early, with an older one, nor lose the next deadline when the oldest completes."""
    monkeypatch.setattr(ws_protocol, "HANDSHAKE_TIMEOUT", 0.6)
    loop = asyncio.get_running_loop()

    async def half_sent() -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
        writer.write(b"GET /healthz HTTP/1.1\r\nX-A: 1\r\n")
        return reader, writer, loop.time()

    oldest = await half_sent()  # the timer is set for its deadline
    await asyncio.sleep(0.1)
    second = await half_sent()
    await asyncio.sleep(0.25)
    third = await half_sent()
    oldest[1].write(b"Host: x\r\n\r\n")
    assert (await asyncio.wait_for(oldest[0].read(), 3)).startswith(b"HTTP/1.1 200 ")
    for reader, writer, started in (second, third):
        answer = await asyncio.wait_for(reader.read(), 3)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
        assert loop.time() - started > 0.55  # its own deadline, not the one before it
        writer.close()
    oldest[1].close()
    assert gateway.service.metrics.heads_timed_out == 2


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"200", id="keep-alive"),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc",
            b"413",
            id="unsent-get-body",
        ),
        pytest.param(
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc",
            b"413",
            id="unsent-post-body",
        ),
        pytest.param(
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"413",
            id="unsent-chunked-body",
        ),
    ],
)
async def test_a_connection_handed_to_aiohttp_is_closed_after_its_answer(
    gateway: Gateway, payload: bytes, status: bytes
) -> None:
    """Nothing waits for the rest: aiohttp's answers close, and no request with a body
    (which aiohttp would read, and linger over) is handed to it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    (answer,) = await _answers(gateway.http_port, payload, 1)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:80]
    assert loop.time() - started < 2.5


async def test_connections_still_sending_a_head_are_capped_oldest_first(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(max_pending_handshakes=20)
    port = gateway.http_port
    slow = []
    for _ in range(60):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nX-A: 1\r\n")
        slow.append((reader, writer))
    await asyncio.sleep(0.2)
    shed = slow[:40]
    for reader, _ in shed:
        answer = await asyncio.wait_for(reader.read(), 3)
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:80]
        assert b'"overloaded"' in answer
    assert gateway.service.metrics.heads_shed == 40
    # a well-behaved client gets in (its head arrives at once), shedding one more slowloris
    await still_served(gateway)
    assert gateway.service.metrics.heads_shed == 41
    assert await asyncio.wait_for(slow[40][0].read(), 3) != b""
    for reader, writer in slow[41:]:
        with pytest.raises(TimeoutError):  # still open, still waiting for its head
            await asyncio.wait_for(reader.read(1), 0.01)
        writer.close()


# 4. no log flooding, no tracebacks


async def test_a_ws_request_line_over_16_kib_in_small_writes_is_431(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    line = b"GET /ws?user_id=a&pad=" + b"a" * (MAX_HEAD_BYTES + 1000) + b" HTTP/1.1\r\n"
    for i in range(0, len(line), 1024):
        writer.write(line[i : i + 1024])
        with contextlib.suppress(ConnectionError):
            await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 3)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert b'"header_too_large"' in answer
    assert_quiet(caplog)
    await still_served(gateway)


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 12_000 + b"\r\n\r\n",
            b"200",
            id="12k-header-served",
        ),
        pytest.param(
            b"GET /healthz?" + b"a" * 12_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"200",
            id="12k-line-served",
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 300 + b"\r\n",
            b"200",
            id="300-headers-served",
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
            b"431",
            id="20k-header",
        ),
        pytest.param(b"GET /nothing HTTP/1.1\r\nX-Big: \x01\r\n\r\n", b"400", id="bad-value"),
        pytest.param(b"GET /healthz HTTP/1.1\r\n\r\n", b"400", id="no-host"),
        pytest.param(b"GET /healthz#x HTTP/1.1\r\nHost: x\r\n\r\n", b"400", id="fragment"),
        pytest.param(b"GET /healthz HTTP/1.1\nHost: x\n\n", b"400", id="bare-lf"),
        pytest.param(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" * 4, b"400", id="tls"),
        pytest.param(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"400", id="h2-preface"),
        pytest.param(b"PRI * HTTP/2.0\r\n\r\n", b"400", id="h2-preface-alone"),
        pytest.param(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"400",
            id="te-not-chunked",
        ),
        pytest.param(
            b"GET /ws?user_id=a&since=00ff-1%C2%B2 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"400",
            id="since-unicode-digit",
        ),
        pytest.param(
            b"GET /ws?user_id=a&since=00ff-%C2%B2 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"400",
            id="since-only-unicode-digit",
        ),
    ],
)
async def test_bad_heads_get_a_status_and_at_most_one_log_line(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, payload: bytes, status: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await exchange(gateway.http_port, payload)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:120]
    assert_quiet(caplog)
    await still_served(gateway)


async def test_a_since_with_a_unicode_digit_is_400_naming_since(gateway: Gateway) -> None:
    epoch = gateway.log.head().epoch
    answer = await exchange(gateway.http_port, upgrade(f"/ws?user_id=a&since={epoch}-%C2%B2"))
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b'"field": "since"' in answer
