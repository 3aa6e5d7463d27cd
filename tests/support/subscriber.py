"""Helpers for the Subscriber's tests (over WebSocket and over SSE)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc

from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from gateway.client import AsyncPublisher, Notification, Resync, StateChange, Subscriber


def ws_url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/ws"


async def next_item(sub: Subscriber, timeout: float = 5.0) -> Notification | Resync:
    return await asyncio.wait_for(anext(sub), timeout)


async def publish_one(gateway: Gateway, **fields: object) -> str:
    async with AsyncPublisher(f"127.0.0.1:{gateway.grpc_port}") as pub:
        return (await pub.publish(**fields)).cursor


class States(list[StateChange]):
    """Records a subscriber's state changes (pass it as `on_state`) and waits for one."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def __call__(self, change: StateChange) -> None:
        self.append(change)
        self._changed.set()

    async def wait(self, state: str, *, after: int = 0, code: int | None = None) -> None:
        """Until a change to `state` (with `code`, when given) is recorded past `after`."""
        async with asyncio.timeout(5):
            while not any(
                s.state == state and (code is None or s.code == code) for s in self[after:]
            ):
                self._changed.clear()
                await self._changed.wait()


@contextlib.asynccontextmanager
async def grpc_stub(gateway: Gateway) -> AsyncIterator[pb_grpc.NotificationGatewayStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        yield pb_grpc.NotificationGatewayStub(channel)
