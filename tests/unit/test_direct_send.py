"""`write_each`'s direct send (connection/direct.py, `_speedups.send_frame`): on a real
uvloop TCP connection the client reads exactly the bytes `writelines` alone would give it,
in order, whether the socket is empty, half full (frames queued in uvloop behind the
kernel's buffer) or taking part of a frame, and a peer that has gone is left to uvloop
with no traceback. With GATEWAY_NO_SPEEDUPS=1 (test_speedups' KEY_TESTS) the same bytes
arrive through `writelines` alone."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop

from gateway.connection.adapter import ByteStreamAdapter
from gateway.connection.connection import Connection, ConnectionContext
from gateway.connection.outgoing import Outgoing, TransportKind
from gateway.connection.through import write_each
from gateway.flush import CoalescePolicy, FlushScheduler
from gateway.metrics import Metrics
from gateway.speedups import speedups

HEAD = b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
LIMIT = 64 * 1024 * 1024


class Stream(ByteStreamAdapter):
    """The gateway's real byte-stream adapter over uvloop's transport, as a WebSocket."""

    kind: TransportKind = "ws"
    answers_pings = True

    def __init__(self, made: asyncio.Future[Stream]) -> None:
        self._transport = None
        self._preamble = HEAD
        self.conn = None
        self._made = made
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's: not a subclass
        self._made.set_result(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True

    def close(self, code: int, reason: str) -> None:
        if self._transport is not None:
            self._transport.close()


def frame(tag: int, size: int) -> bytes:
    """A binary WebSocket frame of `size` payload bytes, its first 4 the tag."""
    body = struct.pack(">I", tag) + bytes([tag % 251]) * (size - 4)
    if size < 126:
        return bytes([0x82, size]) + body
    if size < 65536:
        return bytes([0x82, 126]) + struct.pack(">H", size) + body
    return bytes([0x82, 127]) + struct.pack(">Q", size) + body


Body = Callable[[Connection, Stream, socket.socket], Awaitable[bytes]]


def run(body: Body, sndbuf: int = 0) -> tuple[bytes, bytes, Connection, list[dict[str, Any]]]:
    """`body` with a live connection over uvloop (server) and a blocking client socket:
    what it says the client must read, what the client read, the connection, and every
    error the loop's exception handler saw."""
    loop = uvloop.new_event_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))

    async def main() -> tuple[bytes, bytes, Connection]:
        made: asyncio.Future[Stream] = loop.create_future()
        server = await loop.create_server(lambda: Stream(made), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        client = socket.create_connection(("127.0.0.1", port))
        stream = await made
        if sndbuf:
            sock = stream._transport.get_extra_info("socket")  # type: ignore[union-attr]
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        metrics = Metrics()
        scheduler = FlushScheduler(loop, CoalescePolicy(), metrics)
        context = ConnectionContext(scheduler, LIMIT, lambda conn: None, metrics)
        conn = Connection("u", (), stream, context)
        stream.conn = conn
        conn.start([Outgoing.control(b"\x81\x07welcome")])
        expected = await body(conn, stream, client)
        got = b""
        if expected:
            client.settimeout(10)
            reader = loop.run_in_executor(None, _read, client, len(expected))
            got = await reader
        client.close()
        server.close()
        await asyncio.sleep(0.05)
        return expected, got, conn

    try:
        expected, got, conn = loop.run_until_complete(asyncio.wait_for(main(), 20))
    finally:
        loop.close()
    return expected, got, conn, errors


def _read(client: socket.socket, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = client.recv(min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def test_an_idle_socket_gets_each_frame_in_order() -> None:
    async def body(conn: Connection, stream: Stream, client: socket.socket) -> bytes:
        await asyncio.sleep(0.01)  # the response head and welcome are out
        frames = [frame(i, 20 + i) for i in range(50)]
        for each in frames:
            write_each([conn], Outgoing.control(each))
            await asyncio.sleep(0)
        return HEAD + b"\x81\x07welcome" + b"".join(frames)

    expected, got, conn, errors = run(body)
    assert got == expected
    assert errors == []
    if speedups is not None:
        assert conn._fd >= 0  # the direct path was taken
    else:
        assert conn._fd == -1  # no direct sends: writelines only


def test_order_is_kept_with_a_half_full_socket_and_partial_writes() -> None:
    async def body(conn: Connection, stream: Stream, client: socket.socket) -> bytes:
        await asyncio.sleep(0.01)
        sink = stream._transport
        assert sink is not None
        frames: list[bytes] = []
        queued_seen = partial_seen = False
        for i in range(60):
            # big frames the kernel takes only part of, then a buffer uvloop holds
            each = frame(i, 30_000 if i % 3 else 200)
            before = sink.get_write_buffer_size()
            write_each([conn], Outgoing.control(each))
            after = sink.get_write_buffer_size()
            queued_seen |= before > 0
            partial_seen |= before == 0 and 0 < after < len(each)
            frames.append(each)
            if i % 7 == 0:
                await asyncio.sleep(0)  # uvloop writes some of what it holds
        assert queued_seen  # frames went behind the buffered ones
        if speedups is not None:
            assert partial_seen  # the kernel took part of a frame, uvloop the rest
        return HEAD + b"\x81\x07welcome" + b"".join(frames)

    expected, got, _, errors = run(body, sndbuf=16_384)
    assert got == expected
    assert errors == []


def test_a_peer_gone_is_left_to_uvloop_with_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body(conn: Connection, stream: Stream, client: socket.socket) -> bytes:
        await asyncio.sleep(0.01)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # a reset: the next send fails
        await asyncio.sleep(0.01)
        for i in range(5):
            write_each([conn], Outgoing.control(frame(i, 100)))
            await asyncio.sleep(0.01)
        assert stream.lost
        assert conn.closed or stream.is_closing()
        return b""

    with caplog.at_level(logging.DEBUG):
        _, _, _, errors = run(body)
    assert errors == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_send_frame_reports_what_the_kernel_took() -> None:
    if speedups is None:
        pytest.skip("the compiled module is off")
    left, right = socket.socketpair()
    left.setblocking(False)
    try:
        assert speedups.send_frame(left.fileno(), b"abc") == 3
        assert right.recv(10) == b"abc"
        total = 0
        while (sent := speedups.send_frame(left.fileno(), b"x" * 65536)) > 0:
            total += sent
        assert total > 0  # full now: 0, no exception
        assert speedups.send_frame(-1, b"abc") == 0
        with pytest.raises(TypeError):
            speedups.send_frame(left.fileno(), "abc")  # type: ignore[arg-type,unused-ignore]
    finally:
        left.close()
        right.close()
    assert speedups.send_frame(left.fileno(), b"abc") == 0  # closed fd: an error, 0
