"""Raw garbage and hostile clients on both ports; a well-behaved client is served after each."""

from __future__ import annotations

import asyncio
import contextlib
import os

import aiohttp
import grpc
import pytest

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from tests.support.gateway import Connect, StartGateway
from tests.support.helpers import everyone, request, users
from tests.support.wsraw import read_once_closed, small_window_socket


async def _raw(port: int, payload: bytes, read: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    answer = b""
    if read:
        with contextlib.suppress(TimeoutError):
            answer = await asyncio.wait_for(reader.read(4096), 2)
    writer.close()
    return answer


async def _still_served(stub, connect: Connect) -> None:
    client = await connect("well-behaved")
    response = await stub.Publish(request(users("well-behaved"), "still.ok"))
    assert (await client.notification())["cursor"] == response.cursor


@pytest.mark.parametrize(
    "payload",
    [
        os.urandom(2048),
        b"\x00" * 10_000,
        b"GET /ws?user_id=a HTTP/1.1\r\n" + b"X: " + b"a" * 70_000 + b"\r\n\r\n",
        b"GET /ws?user_id=a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: not-base64!\r\n\r\n",
        b"POST /ws HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n" + b"x" * 1000,
    ],
    ids=["random", "zeros", "huge-header", "bad-ws-key", "big-body"],
)
async def test_garbage_on_the_http_port(
    gateway: Gateway, stub, connect: Connect, payload: bytes
) -> None:
    answer = await _raw(gateway.http_port, payload)
    assert answer == b"" or answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), answer[:200]
    await _still_served(stub, connect)


@pytest.mark.parametrize(
    "payload",
    [
        os.urandom(4096),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(512),
        b"GET / HTTP/1.1\r\n\r\n",
    ],
    ids=["random", "h2-preface-then-garbage", "http1"],
)
async def test_garbage_on_the_grpc_port(
    gateway: Gateway, stub, connect: Connect, payload: bytes
) -> None:
    await _raw(gateway.grpc_port, payload)
    await _still_served(stub, connect)


async def test_garbage_after_the_upgrade(gateway: Gateway, stub, connect: Connect) -> None:
    """A client that sends invalid WebSocket framing (unmasked, reserved bits) is dropped."""
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    handshake = (
        f"GET /ws?user_id=mallory HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    ).encode()
    answer = await _raw(gateway.http_port, handshake + b"\xff\xff" + os.urandom(64))
    assert answer.startswith(b"HTTP/1.1 101")
    await _still_served(stub, connect)


async def test_a_stalled_reader_is_closed_with_4008_and_others_get_everything(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(send_buffer_bytes=64 * 1024)
    url = f"http://127.0.0.1:{gateway.http_port}/ws"
    healthy = await http.ws_connect(url, params={"user_id": "healthy"})
    await healthy.receive_json()
    # A raw client that completes the handshake and then never reads its socket; a small
    # receive window keeps what the kernels absorb (and the test's run time) small.
    reader, writer = await small_window_socket(gateway.http_port, window=65536)
    writer.write(
        b"GET /ws?user_id=stalled HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    writer.transport.pause_reading()
    stalled_reads = read_once_closed(gateway, reader, writer)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        total = 0
        for _ in range(40):  # 40 x 200 x ~1 KiB: far past what the kernel buffers hold
            batch = pb.PublishBatchRequest(
                requests=[request(everyone(), "bulk.item", body="x" * 900) for _ in range(200)]
            )
            await stub.PublishBatch(batch)
            total += 200
            received = 0
            while True:  # the healthy client keeps up
                try:
                    msg = await healthy.receive(timeout=0.05)
                except TimeoutError:
                    break
                assert msg.type == aiohttp.WSMsgType.TEXT
                received += 1
            total -= received
    while total > 0:
        msg = await healthy.receive(timeout=3)
        assert msg.type == aiohttp.WSMsgType.TEXT
        total -= 1
    assert total == 0
    assert gateway.service.metrics.slow_clients_closed == 1
    assert (await gateway.service.presence(["healthy", "stalled"], None))[0] == {
        "healthy": 1,
        "stalled": 0,
    }
    # once the stalled client reads, the stream ends with a 4008 close frame
    got = await asyncio.wait_for(stalled_reads, 10)
    assert b"\x88" in got and (4008).to_bytes(2, "big") + b"too slow" in got
    writer.close()


async def test_a_request_over_4_mib_is_resource_exhausted(gateway: Gateway, stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.Publish(request(users("a"), "too.big", body="x" * (5 << 20)))
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
