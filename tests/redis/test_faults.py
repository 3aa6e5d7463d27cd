"""Fault paths found by fault injection (issue 15): a replica's Redis connections reset and
Redis killed and restarted under its control listener, and a publisher riding out a Redis
restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from pathlib import Path

import aiohttp
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.client import AsyncPublisher
from tests.support.gateway import StartGateway
from tests.support.helpers import free_port, gateway_process, users
from tests.support.helpers import request as publish_request
from tests.support.netproxy import TcpProxy
from tests.support.redis_helpers import ChildGateway, RedisServer, reached_redis, ws_client


def _kill(redis: RedisServer) -> None:
    assert redis.process is not None
    redis.process.send_signal(signal.SIGKILL)
    redis.process.wait(10)
    redis.process = None


async def test_the_control_listener_outlives_its_connections_reset_and_redis_killed(
    start_gateway: StartGateway, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """Fault path 3: after each reset of its Redis connections and each SIGKILL of Redis,
    the child replica (uvloop, as deployed) answers presence and Disconnect again, and its
    drain ends cleanly.

    What stopped it: uvloop raises `RuntimeError` (no OSError) for a write to a transport
    it has closed, and redis-py lets that through. A pooled connection reset (RST) while
    idle is still handed out by the pool (the reset leaves no EOF for its check to see),
    so the listener's next command on it, the replica census right after resubscribing,
    raised it; the listener caught only Redis and socket errors and died. Killing Redis
    alone never got there: a killed Redis closes its idle sockets with FIN, which redis-py
    notices and heals (this test passed with the bug in place when it only killed Redis).
    So the child reaches Redis through a proxy that resets its connections, as a proxy or
    load balancer in that path does when it restarts: no patching, the real error."""
    redis = RedisServer(tmp_path, persistent=True)
    redis.start()
    proxy = await TcpProxy(redis.port).start()
    log_path = tmp_path / "child.log"
    with log_path.open("wb") as sink:
        child = ChildGateway(f"redis://127.0.0.1:{proxy.port}/0", stderr=sink)
    try:
        other = await start_gateway(backend=redis.url)
        await child.ready(http)
        await reached_redis(other)
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
            for _ in range(2):
                proxy.reset()
                await counted_within(15)
            for _ in range(2):
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
        await proxy.close()
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
        await reached_redis(gateway)
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


async def test_a_replay_that_fails_sends_no_live_frame_ahead_of_its_close(
    start_gateway: StartGateway, redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    """Fault path 1: a resume whose replay read fails (here: Redis refuses XRANGE) while
    notifications for the user stream in. It used to get the welcome and the live frames
    queued meanwhile, then 1013: a client took its cursor from them and its next resume
    skipped the range never replayed. Now: the close (1013), and nothing before it."""
    gateway = await start_gateway(backend=redis_server.url)
    await reached_redis(gateway)
    url = f"http://127.0.0.1:{gateway.http_port}/ws"
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        first = await stub.Publish(publish_request(users("alice"), "seen"))
        for _ in range(5):
            await stub.Publish(publish_request(users("alice"), "missed"))
        redis_server.command("ACL", "SETUSER", "default", "-xrange")
        stop = asyncio.Event()

        async def live() -> None:
            batch = pb.PublishBatchRequest(requests=[publish_request(users("alice"), "live")] * 50)
            while not stop.is_set():
                await stub.PublishBatch(batch)

        feeder = asyncio.create_task(live())
        try:
            upgraded = 0
            for _ in range(40):
                await asyncio.sleep(0.05)
                try:
                    ws = await http.ws_connect(
                        url, params={"user_id": "alice", "since": first.cursor}
                    )
                except aiohttp.WSServerHandshakeError as refused:  # marked unhealthy: fine
                    assert refused.status == 503
                    continue
                upgraded += 1
                events = []
                while (msg := await ws.receive(timeout=10)).type == aiohttp.WSMsgType.TEXT:
                    events.append(json.loads(msg.data)["event"])
                assert ws.close_code == 1013, (ws.close_code, events)
                assert events == [], events
            assert upgraded
        finally:
            stop.set()
            await feeder


async def test_a_start_that_fails_on_redis_exits_2_instead_of_hanging(
    redis_server: RedisServer,
) -> None:
    """A port in use stops a Redis-backed start with exit 2; its cleanup used to hang on
    the control listener, whose cancellation redis-py's `get_message` swallowed (and
    a worker stuck so kept `--workers` from ever stopping)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(
            GATEWAY_BACKEND=redis_server.url,
            GATEWAY_HTTP_PORT=str(port),
            GATEWAY_GRPC_PORT=str(free_port()),
        )
        proc = await gateway_process(env=env)
        try:
            assert await asyncio.wait_for(proc.wait(), 30) == 2
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
