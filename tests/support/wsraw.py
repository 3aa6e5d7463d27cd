"""A WebSocket client on a plain socket for tests that send what no library would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
from typing import Any

from grpc import aio

from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from tests.support.helpers import request, users
from tests.support.waiting import until

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def upgrade(target: str = "/ws?user_id=raw", extra: str = "", version: str = "1.1") -> bytes:
    """A valid upgrade request head for `target`, with `extra` header lines (each ending CRLF)."""
    return (
        f"GET {target} HTTP/{version}\r\nHost: x\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n"
        f"{extra}\r\n"
    ).encode()


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length: int | None = None,
    form: int | None = None,
) -> bytes:
    """A client frame; masked with a random key unless `mask=b""`.

    `length` overrides the length field (a lie about the payload) and `form` picks the
    length encoding (7, 16 or 64 bits) instead of the shortest.
    """
    size = len(payload) if length is None else length
    if form is None:
        form = 7 if size < 126 else 16 if size < 1 << 16 else 64
    mask = os.urandom(4) if mask is None else mask
    bit = 0x80 if mask else 0
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    if form == 7:
        head = struct.pack("!BB", first, bit | size)
    elif form == 16:
        head = struct.pack("!BBH", first, bit | 126, size)
    else:
        head = struct.pack("!BBQ", first, bit | 127, size)
    if not mask:
        return head + payload
    key = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return head + mask + bytes(a ^ b for a, b in zip(payload, key, strict=True))


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


class RawClient:
    """Reads server frames from a plain socket; sends bytes as given."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, user_id: str = "raw", query: str = "") -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upgrade(f"/ws?user_id={user_id}{query}"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        assert head.startswith(b"HTTP/1.1 101 "), head
        client = cls(reader, writer)
        assert (await client.event())["event"] == "welcome"
        return client

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def frame(self, timeout: float = 3.0) -> tuple[int, bytes]:
        async with asyncio.timeout(timeout):
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                size = int.from_bytes(await self.reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await self.reader.readexactly(8), "big")
            return first & 0x0F, await self.reader.readexactly(size)

    async def event(self, timeout: float = 3.0) -> dict[str, Any]:
        opcode, payload = await self.frame(timeout)
        assert opcode == TEXT, (opcode, payload)
        value: dict[str, Any] = json.loads(payload)
        return value

    async def closed_with(self, timeout: float = 3.0) -> tuple[int, str]:
        """Reads up to the server's close frame; its code and reason. Then TCP must close."""
        while True:
            opcode, payload = await self.frame(timeout)
            if opcode == CLOSE:
                break
        code = int.from_bytes(payload[:2], "big")
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(self.reader.read(), timeout) == b""
        return code, payload[2:].decode()

    def close(self) -> None:
        self.writer.close()


async def exchange(port: int, data: bytes, timeout: float = 3.0) -> bytes:
    """Sends `data`, reads until the server closes (or `timeout`); what it answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        async with asyncio.timeout(timeout):
            return await reader.read()
    finally:
        writer.close()


async def small_window_socket(
    port: int, window: int = 4096
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection whose receive window is small, so a client that stops reading stalls soon."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, window)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock)


def read_once_closed(
    gateway: Gateway, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> asyncio.Task[bytes]:
    """Resumes a stalled client's reading once the gateway has closed it as too slow, and
    reads to the end of its stream.

    The gateway drops a closed connection whose last frame or event has not gone out within
    CLOSE_TIMEOUT (5 s; memory stays bounded): a client that stalls past that never sees
    why it was closed, so this reads as soon as it is closed. Reading only after all of a
    test's batches failed whenever those took more than 5 s on a loaded machine.
    """

    async def read() -> bytes:
        await until(lambda: gateway.service.metrics.slow_clients_closed, within=60, every=0.01)
        writer.transport.resume_reading()
        got = bytearray()
        while chunk := await reader.read(1 << 16):
            got.extend(chunk)
        return bytes(got)

    return asyncio.create_task(read())


async def still_served(gateway: Gateway, user_id: str = "well-behaved") -> None:
    """A well-behaved client connects and gets a notification published for it."""
    client = await RawClient.open(gateway.http_port, user_id)
    try:
        async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
            stub = pb_grpc.NotificationGatewayStub(channel)
            reply = await stub.Publish(request(users(user_id), "still.served"))
        event = await client.event()
        assert event["event"] == "notification" and event["cursor"] == reply.cursor, event
    finally:
        client.close()
