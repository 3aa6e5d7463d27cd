"""End to end: publishes that stream in share flushes, unary or PublishStream, in order."""

from __future__ import annotations

import asyncio

from grpc import aio

from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from tests.support.gateway import Client, Connect
from tests.support.helpers import everyone, request

SUBSCRIBERS = 8
COUNT = 200


async def _everyone_got_all_in_order(clients: list[Client]) -> None:
    for client in clients:
        got = [(await client.notification())["notification"]["data"]["n"] for _ in range(COUNT)]
        assert got == list(range(COUNT))


async def test_stream_publishes_share_flushes_and_keep_order(
    gateway: Gateway, stub, connect: Connect
) -> None:
    clients = [await connect(f"s{i}") for i in range(SUBSCRIBERS)]
    metrics = gateway.service.metrics
    flushes, flushed = metrics.flushes, metrics.flushed_publishes
    call = stub.PublishStream(iter([request(everyone(), data={"n": n}) for n in range(COUNT)]))
    replies = [reply async for reply in call]
    assert [r.delivered for r in replies] == [SUBSCRIBERS] * COUNT
    await _everyone_got_all_in_order(clients)
    assert metrics.flushed_publishes - flushed == COUNT
    # one flush per publish without coalescing; streaming in, they share flushes
    assert (metrics.flushed_publishes - flushed) / (metrics.flushes - flushes) >= 2


async def test_unary_publishes_in_flight_share_flushes_and_keep_order(
    gateway: Gateway, stub, connect: Connect
) -> None:
    clients = [await connect(f"u{i}") for i in range(SUBSCRIBERS)]
    metrics = gateway.service.metrics
    flushes, flushed = metrics.flushes, metrics.flushed_publishes
    lanes = 4  # each lane waits for its ack: order holds per lane, so n goes up per client

    async def lane(first: int) -> None:
        for n in range(first, COUNT, lanes):
            await stub.Publish(request(everyone(), data={"n": n}))

    await asyncio.gather(*(lane(i) for i in range(lanes)))
    for client in clients:
        got = [(await client.notification())["notification"]["data"]["n"] for _ in range(COUNT)]
        assert sorted(got) == list(range(COUNT))
        for first in range(lanes):
            mine = [n for n in got if n % lanes == first]
            assert mine == sorted(mine)
    assert (metrics.flushed_publishes - flushed) / (metrics.flushes - flushes) >= 2


async def test_coalescing_off_writes_each_publish_alone(
    start_gateway, connect: Connect, http
) -> None:
    gateway = await start_gateway(coalesce_ms=0)
    clients = [await connect(f"o{i}", target=gateway) for i in range(SUBSCRIBERS)]
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)  # type: ignore[no-untyped-call]
        call = stub.PublishStream(iter([request(everyone(), data={"n": n}) for n in range(COUNT)]))
        assert len([reply async for reply in call]) == COUNT
    await _everyone_got_all_in_order(clients)
    metrics = gateway.service.metrics
    assert metrics.flushed_publishes == COUNT
    assert metrics.flushes > COUNT // 2  # mostly one each (the loop may meet two at once)
