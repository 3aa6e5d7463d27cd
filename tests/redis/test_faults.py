"""Fault paths found by fault injection (issue 15): Redis killed and restarted under a
replica's control listener, and a publisher riding out a Redis restart."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from gateway.client import AsyncPublisher
from tests.support.gateway import StartGateway
from tests.support.redis_helpers import ChildGateway, RedisServer, ws_client
from tests.support.waiting import until


async def _healthy(gateway: Gateway) -> None:
    await until(lambda: gateway.log.healthy, within=10.0, what="the gateway did not reach Redis")


def _kill(redis: RedisServer) -> None:
    assert redis.process is not None
    redis.process.send_signal(signal.SIGKILL)
    redis.process.wait(10)
    redis.process = None


async def test_the_control_listener_outlives_redis_killed_and_restarted(
    start_gateway: StartGateway, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """Fault path 3: after each SIGKILL of Redis the child replica (uvloop, as deployed)
    answers presence and Disconnect again, and its drain ends cleanly."""
    redis = RedisServer(tmp_path, persistent=True)
    redis.start()
    log_path = tmp_path / "child.log"
    with log_path.open("wb") as sink:
        child = ChildGateway(redis.url, stderr=sink)
    try:
        other = await start_gateway(backend=redis.url)
        await child.ready(http)
        await _healthy(other)
        alice = await ws_client(http, child.http_port, "alice")
        async with aio.insecure_channel(f"127.0.0.1:{other.grpc_port}") as channel:
            stub = pb_grpc.NotificationGatewayStub(channel)

            async def alice_counted() -> bool:
                try:
                    reply = await stub.GetPresence(
                        pb.GetPresenceRequest(user_ids=["alice"]), timeout=5
                    )
                except aio.AioRpcError:
                    return False
                return reply.total_connections == 1

            async def counted_within(seconds: float) -> None:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + seconds
                while not await alice_counted():
                    assert loop.time() < deadline, "the child replica stopped answering"
                    await asyncio.sleep(0.1)

            await counted_within(10)
            for _ in range(3):
                asking = asyncio.create_task(counted_within(30))  # questions during it all
                await asyncio.sleep(0.2)
                _kill(redis)
                await asyncio.sleep(0.3)
                redis.start()
                await asking
                await counted_within(15)
            reply = await stub.Disconnect(pb.DisconnectRequest(user_id="alice"), timeout=5)
            assert reply.closed == 1
        assert await alice.closed(timeout=5) == 4009
        child.signal(signal.SIGTERM)
        assert child.process.wait(30) == 0
        log = log_path.read_text()
        assert "Traceback" not in log, log
    finally:
        child.stop()
        redis.stop()


async def test_a_publish_rides_out_a_two_second_redis_restart(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    """Fault path 5: the SDK's default policy retries UNAVAILABLE until its deadline (15 s),
    not for six tries (0.6-2.7 s), so a Redis down for ~2 s fails no publish."""
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        gateway = await start_gateway(backend=redis.url)
        await _healthy(gateway)
        async with AsyncPublisher(f"127.0.0.1:{gateway.grpc_port}") as pub:
            await pub.publish(users=["alice"], type="before")
            redis.stop()
            publishes = [
                asyncio.create_task(pub.publish(users=["alice"], type="during", data={"n": n}))
                for n in range(5)
            ]
            await asyncio.sleep(2.5)
            redis.start()
            replies = await asyncio.gather(*publishes)
            assert all(reply.cursor for reply in replies)
            assert pub.stats.retries >= 5
    finally:
        redis.stop()
