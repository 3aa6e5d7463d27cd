"""Redis going away and coming back: fail fast, stay connected, catch up, report gaps."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from tests.support.gateway import StartGateway
from tests.support.helpers import free_port, users
from tests.support.helpers import request as publish_request
from tests.support.redis_helpers import ChildGateway, RedisServer, reached_redis, ws_client
from tests.support.sse import SseClient


async def _ready_status(http: aiohttp.ClientSession, gateway: Gateway) -> tuple[int, str]:
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/readyz") as response:
        return response.status, (await response.json())["status"]


async def _metrics(http: aiohttp.ClientSession, gateway: Gateway) -> str:
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/metrics") as response:
        return await response.text()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_redis_restarted_mid_traffic_loses_nothing_for_connected_clients(
    start_gateway: StartGateway, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    redis = RedisServer(tmp_path, persistent=True)
    redis.start()
    try:
        a = await start_gateway(backend=redis.url)
        b = await start_gateway(backend=redis.url)
        await reached_redis(a)
        await reached_redis(b)
        alice = await ws_client(http, a.http_port, "alice")
        bob = await ws_client(http, b.http_port, "bob")
        accepted: list[str] = []
        refused: list[float] = []
        stop = asyncio.Event()

        async def publish(gateway: Gateway) -> None:
            async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
                stub = pb_grpc.NotificationGatewayStub(channel)
                n = 0
                while not stop.is_set() and n < 2000:
                    n += 1
                    started = time.monotonic()
                    try:
                        response = await stub.Publish(
                            publish_request(users("alice", "bob"), "tick"), timeout=10
                        )
                        accepted.append(response.cursor)
                    except aio.AioRpcError as exc:
                        assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
                        refused.append(time.monotonic() - started)
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(0.01)

        publishers = [asyncio.create_task(publish(g)) for g in (a, b)]
        await asyncio.sleep(0.5)
        redis.stop()
        await asyncio.sleep(1.5)
        assert refused, "publishes during the outage must fail"
        assert max(refused) < 2.5, f"UNAVAILABLE took {max(refused):.2f} s"
        assert await _ready_status(http, a) == (503, "backend_unreachable")
        text = await _metrics(http, b)
        assert _metric(text, "gateway_backend_up") == 0
        assert _metric(text, "gateway_backend_errors_total") > 0
        await alice.send({"op": "ping"})  # the WebSocket stays open meanwhile
        await bob.send({"op": "ping"})
        redis.start()
        await reached_redis(a)
        await reached_redis(b)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*publishers)
        assert await _ready_status(http, a) == (200, "ready")
        assert len(accepted) > 20
        for client in (alice, bob):
            cursors: list[str] = []
            while True:
                try:
                    event = await client.event(timeout=1.0)
                except TimeoutError:
                    break
                if event["event"] == "notification":
                    cursors.append(event["cursor"])
            assert set(accepted) <= set(cursors), "an accepted notification was lost"
            assert len(cursors) == len(set(cursors)), "delivered twice"
            order = [tuple(map(int, c.partition(".")[2].split("-"))) for c in cursors]
            assert order == sorted(order)
    finally:
        redis.stop()


async def test_a_start_without_redis_waits_and_becomes_ready_when_it_comes(
    start_gateway: StartGateway, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    redis = RedisServer(tmp_path)
    started = time.monotonic()
    gateway = await start_gateway(backend=redis.url)
    assert time.monotonic() - started < 2.0
    assert await _ready_status(http, gateway) == (503, "backend_unreachable")
    refused = await http.get(f"http://127.0.0.1:{gateway.http_port}/ws?user_id=alice")
    assert refused.status == 503
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        with pytest.raises(aio.AioRpcError) as failure:
            await stub.Publish(publish_request(users("alice"), "early"), timeout=5)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        redis.start()
        try:
            await reached_redis(gateway)
            assert await _ready_status(http, gateway) == (200, "ready")
            alice = await ws_client(http, gateway.http_port, "alice")
            response = await stub.Publish(publish_request(users("alice"), "late"))
            assert (await alice.notification())["cursor"] == response.cursor
        finally:
            redis.stop()


async def test_entries_trimmed_before_a_replica_read_them_close_its_clients_with_4010(
    start_gateway: StartGateway, redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    child = ChildGateway(redis_server.url, history_size=10)
    try:
        b = await start_gateway(backend=redis_server.url, history_size=10)
        await reached_redis(b)
        await child.ready(http)
        alice = await ws_client(http, child.http_port, "alice")
        stream = await SseClient.open(child.http_port, "/sse?user_id=alice")  # issue 18
        await stream.event()
        async with aio.insecure_channel(f"127.0.0.1:{b.grpc_port}") as channel:
            stub = pb_grpc.NotificationGatewayStub(channel)
            first = await stub.Publish(publish_request(users("alice"), "seen"))
            assert (await alice.notification())["cursor"] == first.cursor
            assert (await stream.notification()).id == first.cursor
            # Live entries wait in Redis for the stopped replica up to its pub/sub output
            # buffer limit; past it, Redis drops the connection and the replica must catch
            # up from the stream, which keeps >= 4000 entries whatever history_size says:
            # trim well past that.
            redis_server.command("CONFIG", "SET", "client-output-buffer-limit", "pubsub 64kb 0 0")
            child.signal(signal.SIGSTOP)
            for _ in range(7):
                await stub.PublishBatch(
                    pb.PublishBatchRequest(
                        requests=[publish_request(users("alice"), "missed")] * 1000
                    )
                )
            child.signal(signal.SIGCONT)
        assert await alice.closed(timeout=10) == 4010
        # the SSE stream too, with the same code as its final event
        last = await stream.event(timeout=10)
        while last.name != "close":
            last = await stream.event(timeout=10)
        assert last.data["code"] == 4010
        back = await ws_client(http, b.http_port, "alice", since=first.cursor)
        resumed = await back.event()
        assert resumed["event"] == "resumed" and resumed["complete"] is False
    finally:
        child.stop()


async def test_an_unreachable_port_fails_publishes_fast(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(backend=f"redis://127.0.0.1:{free_port()}/0")
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        started = time.monotonic()
        with pytest.raises(aio.AioRpcError) as failure:
            await stub.Publish(publish_request(users("alice"), "x"), timeout=10)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "Redis" in (failure.value.details() or "")
        assert time.monotonic() - started < 2.0
