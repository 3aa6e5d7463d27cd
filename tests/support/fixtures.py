"""The shared fixtures (registered by tests/conftest.py): a real gateway on free ports, real
gRPC and WebSocket clients, a redis-server of the test's own.

Every JSON text frame any aiohttp WebSocket client receives in a test is checked against
the protocol's JSON Schema (clients/protocol/notifications.v1.schema.json, `ServerEvent`):
the machine-readable description cannot drift from what the gateway sends.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from grpc import aio

from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from gateway.config import Settings
from tests.support.gateway import Client, Connect, StartGateway
from tests.support.netproxy import TcpProxy
from tests.support.redis_helpers import RedisServer, reached_redis
from tests.support.schema import check_server_frame

if TYPE_CHECKING:
    from tests.support.otlp_receiver import OtlpReceiver


@pytest.fixture(autouse=True)
def _validate_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks every text frame aiohttp's WebSocket client receives (see the module doc)."""
    receive = aiohttp.ClientWebSocketResponse.receive

    async def checked(
        self: aiohttp.ClientWebSocketResponse, timeout: float | None = None
    ) -> aiohttp.WSMessage:
        msg = await receive(self, timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            check_server_frame(msg.data)
        return msg

    monkeypatch.setattr(aiohttp.ClientWebSocketResponse, "receive", checked)


@pytest.fixture
async def start_gateway() -> AsyncIterator[StartGateway]:
    """Starts gateways with settings overrides; drains every one at teardown."""
    started: list[Gateway] = []

    async def start(**overrides: Any) -> Gateway:
        settings = Settings(**{"http_port": 0, "grpc_port": 0, "grace_seconds": 2.0, **overrides})
        gateway = Gateway(settings)
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        if gateway.service.accepting:
            await gateway.drain()


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> Gateway:
    return await start_gateway()


@pytest.fixture
async def stub(gateway: Gateway) -> AsyncIterator[pb_grpc.NotificationGatewayStub]:
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        yield pb_grpc.NotificationGatewayStub(channel)


@pytest.fixture
async def proxy(gateway: Gateway) -> AsyncIterator[TcpProxy]:
    """A TCP proxy in front of `gateway`'s HTTP port, to cut, reset or freeze its links."""
    link = await TcpProxy(gateway.http_port).start()
    yield link
    await link.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def connect(gateway: Gateway, http: aiohttp.ClientSession) -> AsyncIterator[Connect]:
    """Opens WebSocket clients on `gateway` and reads their welcome event first."""
    opened: list[aiohttp.ClientWebSocketResponse] = []

    async def open_client(
        user_id: str, *, welcome: bool = True, target: Gateway | None = None, **params: str
    ) -> Client:
        port = (target or gateway).http_port
        query = {"user_id": user_id, **params}
        ws = await http.ws_connect(f"http://127.0.0.1:{port}/ws", params=query)
        opened.append(ws)
        client = Client(ws)
        if welcome:
            event = await client.event()
            assert event["event"] == "welcome", event
        return client

    yield open_client
    for ws in opened:
        await ws.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium driver (Selenium) for this test (`tests.support.chromium`)."""
    from tests.support.chromium import open_chromium

    with open_chromium() as driver:
        yield driver


@pytest.fixture
def redis_server(tmp_path: Any) -> Iterator[Any]:
    """A redis-server of this test's own on a free port (fails if redis-server is missing)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def stubs() -> AsyncIterator[Callable[[Gateway], pb_grpc.NotificationGatewayStub]]:
    """A gRPC stub for any gateway of the test; every channel is closed at teardown."""
    opened: list[aio.Channel] = []

    def stub_for(gateway: Gateway) -> pb_grpc.NotificationGatewayStub:
        channel = aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}")
        opened.append(channel)
        return pb_grpc.NotificationGatewayStub(channel)

    yield stub_for
    for channel in opened:
        await channel.close()


@pytest.fixture
def on_redis(
    start_gateway: StartGateway, redis_server: RedisServer
) -> Callable[..., Awaitable[Gateway]]:
    """Starts a gateway on the test's redis-server (or on `url`), once it reaches Redis."""

    async def start(url: str | None = None, **overrides: object) -> Gateway:
        gateway = await start_gateway(backend=url or redis_server.url, **overrides)
        await reached_redis(gateway)
        return gateway

    return start


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """A real OTLP/gRPC receiver, and the process's `OTEL_*` variables pointing at it (the
    gateways the test starts, in this process or as children, export their spans there)."""
    from tests.support.otlp_receiver import OtlpReceiver

    receiver = OtlpReceiver()
    receiver.start()
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    for name, value in receiver.environ().items():
        monkeypatch.setenv(name, value)
    yield receiver
    receiver.stop()
