"""Shared fixtures: a real gateway on free ports, real gRPC and WebSocket clients.

Every JSON text frame any aiohttp WebSocket client receives in a test is checked against
the protocol's JSON Schema (clients/protocol/notifications.v1.schema.json, `ServerEvent`):
the machine-readable description cannot drift from what the gateway sends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from grpc import aio

from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from gateway.config import Settings

StartGateway = Callable[..., Awaitable[Gateway]]

PROTOCOL_SCHEMA = Path(__file__).parent.parent / "clients/protocol/notifications.v1.schema.json"


def _server_event_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(PROTOCOL_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator({**schema, "oneOf": [{"$ref": "#/$defs/ServerEvent"}]})


SERVER_EVENT = _server_event_validator()


def check_server_frame(text: str) -> None:
    """Fails the test when a frame from the gateway does not match the protocol schema."""
    try:
        value = json.loads(text)
    except ValueError:
        raise AssertionError(f"the gateway sent a text frame that is not JSON: {text!r}") from None
    errors = sorted(SERVER_EVENT.iter_errors(value), key=lambda e: e.path)
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise AssertionError(f"frame does not match the protocol schema: {best.message}: {text}")


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
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Client:
    """A WebSocket client that reads JSON events with a timeout."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def event(self, timeout: float = 3.0) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"expected a text frame, got {msg.type!r} {msg.data!r}")
        value: dict[str, Any] = json.loads(msg.data)
        return value

    async def notification(self, timeout: float = 3.0) -> dict[str, Any]:
        event = await self.event(timeout)
        assert event["event"] == "notification", event
        return event

    async def nothing(self, within: float = 0.2) -> None:
        """Asserts no frame arrives within `within` seconds."""
        try:
            msg = await self.ws.receive(timeout=within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame: {msg.type!r} {msg.data!r}")

    async def send(self, value: Any) -> None:
        await self.ws.send_str(value if isinstance(value, str) else json.dumps(value))

    async def closed(self, timeout: float = 3.0) -> int | None:
        """Reads until the close frame; returns the close code."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type == aiohttp.WSMsgType.CLOSE:
                    return int(msg.data)  # the code in the server's close frame
                if msg.type == aiohttp.WSMsgType.CLOSED:
                    return self.ws.close_code


Connect = Callable[..., Awaitable[Client]]


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
def redis_server(tmp_path: Any) -> Iterator[Any]:
    """A redis-server of this test's own on a free port (fails if redis-server is missing)."""
    from tests.redis_helpers import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
