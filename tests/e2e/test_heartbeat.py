"""The loop-wide heartbeat, and that a closed connection needs no cyclic GC to be freed."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import Iterator

import aiohttp
import pytest

from gateway.app import Gateway
from tests.support.gateway import Client, StartGateway
from tests.support.waiting import until

HEARTBEAT = 0.2


async def _open(
    http: aiohttp.ClientSession, gateway: Gateway, user_id: str, **kw: bool
) -> aiohttp.ClientWebSocketResponse:
    url = f"http://127.0.0.1:{gateway.http_port}/ws?user_id={user_id}"
    ws = await http.ws_connect(url, **kw)  # type: ignore[arg-type]
    welcome = await Client(ws).event()
    assert welcome["event"] == "welcome"
    assert welcome["heartbeat"] == gateway.settings.heartbeat_seconds
    return ws


async def test_a_peer_that_answers_pings_stays(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(heartbeat_seconds=HEARTBEAT)
    ws = await _open(http, gateway, "alice")  # aiohttp answers pings while receiving
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(HEARTBEAT * 6):  # receive(timeout) restarts on each ping
            msg = await ws.receive()
            raise AssertionError(f"unexpected frame: {msg.type!r} {msg.data!r}")
    client = Client(ws)
    await client.send({"op": "ping"})
    assert await client.event() == {"event": "pong"}
    assert len(gateway.service.hub) == 1
    await ws.close()


async def test_a_silent_peer_is_dropped_within_two_intervals(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(heartbeat_seconds=HEARTBEAT)
    ws = await _open(http, gateway, "alice", autoping=False)
    pings = 0
    async with asyncio.timeout(HEARTBEAT * 4):
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.PING:
                break
            pings += 1  # and no pong: the next visit drops it
    assert pings == 1
    assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE)
    await until(lambda: len(gateway.service.hub) == 0, within=3.0, every=0.01)
    assert not gateway.edge.connections


async def test_client_pings_are_answered_with_their_payload(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway()
    ws = await _open(http, gateway, "alice", autoping=False)
    await ws.ping(b"are you there")
    msg = await ws.receive(timeout=3.0)
    assert msg.type == aiohttp.WSMsgType.PONG and msg.data == b"are you there"
    await ws.close()


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("how", ["close handshake", "dropped socket", "closed by server"])
async def test_a_closed_connection_is_freed_by_reference_counting(
    start_gateway: StartGateway, http: aiohttp.ClientSession, no_cyclic_gc: None, how: str
) -> None:
    """No reference cycle survives a connection (so `GcPolicy` may freeze long-lived ones)."""
    gateway = await start_gateway()
    if how == "dropped socket":
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
        writer.write(
            b"GET /ws?user_id=alice HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(2)  # the welcome frame's header
    else:
        ws = await _open(http, gateway, "alice")
    await until(lambda: len(gateway.edge.connections) == 1, within=3.0, every=0.01)
    server_ws = next(iter(gateway.edge.connections)).transport
    watched = weakref.ref(server_ws)
    del server_ws
    if how == "dropped socket":
        writer.transport.abort()
    elif how == "close handshake":
        await ws.close()
    else:
        assert await gateway.service.disconnect("alice", 4009, "bye") == 1
        assert await Client(ws).closed() == 4009
    await until(lambda: not gateway.edge.connections and watched() is None, within=3.0, every=0.01)
