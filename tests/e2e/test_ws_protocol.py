"""The HTTP port's own WebSocket path over real sockets: hand-off, framing, close handshake.

`/ws` upgrades are served by gateway/websocket/protocol.py, every other request by aiohttp on the
same port; these tests cover the seams between the two and what a raw client can send.
"""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import grpc
import pytest

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from gateway.websocket import protocol as ws_protocol
from tests.support.gateway import Client, Connect, StartGateway
from tests.support.helpers import request, users
from tests.support.wsraw import RawClient, frame, upgrade


async def test_health_responses_close_their_connection(gateway: Gateway, http) -> None:
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/healthz") as response:
        assert response.status == 200
        assert response.headers["Connection"].lower() == "close"


async def test_a_session_that_asked_for_health_first_still_upgrades(gateway: Gateway, stub) -> None:
    """aiohttp's client reuses pooled connections: /ws must not land on aiohttp's."""
    connector = aiohttp.TCPConnector(limit=1)  # one connection at most: reused if it can be
    async with aiohttp.ClientSession(connector=connector) as session:
        base = f"http://127.0.0.1:{gateway.http_port}"
        async with session.get(f"{base}/readyz") as ready:
            assert ready.status == 200
        ws = await session.ws_connect(f"{base}/ws", params={"user_id": "alice"})
        client = Client(ws)
        assert (await client.event())["event"] == "welcome"
        reply = await stub.Publish(request(users("alice"), "after.health"))
        assert (await client.notification())["cursor"] == reply.cursor
        await ws.close()


async def test_http_1_0_upgrade_is_refused_by_the_fallback(gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    writer.write(upgrade("/ws?user_id=alice").replace(b"HTTP/1.1", b"HTTP/1.0"))
    answer = await asyncio.wait_for(reader.read(), 3)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ") or answer.startswith(b"HTTP/1.0 400 "), answer
    assert b"first request on its connection" in answer


async def test_an_oversized_request_head_is_431(gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    writer.write(upgrade("/ws?user_id=alice", "X-Pad: " + "a" * 20_000 + "\r\n"))
    answer = await asyncio.wait_for(reader.read(), 3)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert answer.endswith(
        b'"header_too_large", "message": "the request head is over 16384 bytes"}'
    )


async def test_a_fragmented_op_with_a_ping_inside_is_answered_in_order(gateway: Gateway) -> None:
    client = await RawClient.open(gateway.http_port, "alice")
    op = b'{"op": "subscribe", "topic": "news"}'
    client.writer.write(
        frame(0x1, op[:10], fin=False)
        + frame(0x9, b"mid")  # a ping between the fragments
        + frame(0x0, op[10:20], fin=False)
        + frame(0x0, op[20:])
    )
    assert await client.frame() == (0xA, b"mid")
    assert await client.event() == {"event": "subscribed", "topic": "news"}
    client.writer.close()


async def test_an_op_sent_with_the_handshake_is_answered_after_the_welcome(
    gateway: Gateway,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    writer.write(upgrade("/ws?user_id=alice") + frame(0x1, b'{"op": "ping"}'))
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)).startswith(b"HTTP/1.1 101")
    client = RawClient(reader, writer)
    assert (await client.event())["event"] == "welcome"
    assert await client.event() == {"event": "pong"}
    writer.close()


async def test_the_client_close_is_echoed_and_the_connection_freed(
    gateway: Gateway, connect: Connect
) -> None:
    client = await connect("alice")
    assert await client.ws.close(code=4321, message=b"bye")
    assert client.ws.close_code == 4321  # the server's answer carried the client's code
    for _ in range(100):
        if not gateway.edge.connections:
            break
        await asyncio.sleep(0.01)
    assert not gateway.edge.connections and len(gateway.service.hub) == 0


async def test_broken_framing_is_closed_with_1002(gateway: Gateway) -> None:
    client = await RawClient.open(gateway.http_port, "mallory")
    client.writer.write(b"\x81\x05hello")  # unmasked
    opcode, payload = await client.frame()
    assert opcode == 0x8 and payload[:2] == (1002).to_bytes(2, "big"), payload
    assert b"masked" in payload
    assert await asyncio.wait_for(client.reader.read(), 3) == b""  # then TCP closes


async def test_invalid_utf8_is_closed_with_1007(gateway: Gateway) -> None:
    client = await RawClient.open(gateway.http_port, "mallory")
    client.writer.write(frame(0x1, b"\xff\xfe"))
    opcode, payload = await client.frame()
    assert opcode == 0x8 and payload[:2] == (1007).to_bytes(2, "big"), payload


async def test_a_client_that_never_finishes_its_head_is_dropped(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_protocol, "HANDSHAKE_TIMEOUT", 0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    writer.write(b"GET /ws?user_id=slowloris HTTP/1.1\r\nHost: x\r\n")  # and nothing more
    answer = await asyncio.wait_for(reader.read(), 3)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"request_timeout" in answer, answer
    writer.close()


async def test_a_head_sent_a_byte_at_a_time_upgrades(gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    for byte in upgrade("/ws?user_id=trickle"):
        writer.write(bytes((byte,)))
        await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert (await RawClient(reader, writer).event())["event"] == "welcome"
    writer.close()


async def test_a_closed_client_that_never_reads_is_dropped(
    start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After 4008 nobody waits for a reader that stopped: TCP is cut after the timeouts."""
    monkeypatch.setattr(ws_protocol, "CLOSE_TIMEOUT", 0.2)
    gateway = await start_gateway(send_buffer_bytes=16 * 1024)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", gateway.http_port))
    _, writer = await asyncio.open_connection(sock=sock)
    writer.write(upgrade("/ws?user_id=stalled"))
    writer.transport.pause_reading()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        for _ in range(200):  # up to 20 MB: far past what the kernels absorb
            batch = pb.PublishBatchRequest(
                requests=[request(users("stalled"), "bulk.item", body="x" * 900)] * 100
            )
            await stub.PublishBatch(batch)
            if gateway.service.metrics.slow_clients_closed:
                break
    assert gateway.service.metrics.slow_clients_closed == 1
    for _ in range(200):
        if not gateway.edge.connections:
            break
        await asyncio.sleep(0.01)
    assert not gateway.edge.connections  # dropped although it never read its close frame
    writer.close()
