"""What tests hold of an in-process gateway: the `start_gateway` and `connect` callables'
types, and `Client`, a WebSocket client that reads JSON events with a timeout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from gateway.app import Gateway

StartGateway = Callable[..., Awaitable[Gateway]]


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
