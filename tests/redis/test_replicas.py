"""Presence and Disconnect across replicas on one real Redis, and a killed replica."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from gateway.log.redis_peers import ANSWER_WAIT
from tests.support.gateway import StartGateway
from tests.support.helpers import request as publish_request
from tests.support.helpers import users
from tests.support.redis_helpers import ChildGateway, RedisServer, ws_client


async def _on_redis(start_gateway: StartGateway, url: str) -> Gateway:
    gateway = await start_gateway(backend=url)
    for _ in range(100):
        if gateway.log.healthy:
            return gateway
        await asyncio.sleep(0.02)
    raise AssertionError("the gateway did not reach Redis")


async def test_presence_and_disconnect_count_every_replica_and_a_killed_one_drops_out(
    start_gateway: StartGateway, redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    child = ChildGateway(redis_server.url)
    try:
        a = await _on_redis(start_gateway, redis_server.url)
        b = await _on_redis(start_gateway, redis_server.url)
        await child.ready(http)
        ports = [a.http_port, a.http_port, b.http_port, child.http_port]
        tabs = [await ws_client(http, port, "alice", topics="news") for port in ports]
        bob = await ws_client(http, child.http_port, "bob", topics="news")
        async with aio.insecure_channel(f"127.0.0.1:{b.grpc_port}") as channel:
            stub = pb_grpc.NotificationGatewayStub(channel)
            seen = await stub.GetPresence(pb.GetPresenceRequest(user_ids=["alice", "bob", "eve"]))
            assert {u.user_id: u.connections for u in seen.users} == {
                "alice": 4,
                "bob": 1,
                "eve": 0,
            }
            assert seen.total_connections == 5
            news = await stub.GetPresence(pb.GetPresenceRequest(topic="news"))
            assert {u.user_id: u.connections for u in news.users} == {"alice": 4, "bob": 1}
            everyone = await stub.GetPresence(pb.GetPresenceRequest())
            assert everyone.total_connections == 5

            child.signal(signal.SIGKILL)
            child.process.wait(10)
            await asyncio.sleep(0.1)  # Redis reads the killed replica's closed socket
            started = time.monotonic()
            after = await stub.GetPresence(pb.GetPresenceRequest(user_ids=["alice", "bob"]))
            assert time.monotonic() - started < ANSWER_WAIT  # not waiting for the dead one
            assert {u.user_id: u.connections for u in after.users} == {"alice": 3, "bob": 0}
            del bob

            closed = await stub.Disconnect(pb.DisconnectRequest(user_id="alice", reason="bye"))
            assert closed.closed == 3
            for tab in tabs[:3]:
                assert await tab.closed() == 4009
            gone = await stub.GetPresence(pb.GetPresenceRequest(user_ids=["alice"]))
            assert gone.users[0].connections == 0
    finally:
        child.stop()


async def test_delivered_counts_the_accepting_replica_only(
    start_gateway: StartGateway, redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    a = await _on_redis(start_gateway, redis_server.url)
    b = await _on_redis(start_gateway, redis_server.url)
    here = [await ws_client(http, a.http_port, "alice") for _ in range(2)]
    there = await ws_client(http, b.http_port, "alice")
    async with aio.insecure_channel(f"127.0.0.1:{a.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        response = await stub.Publish(publish_request(users("alice"), "counted"))
    assert response.delivered == 2
    for client in [*here, there]:
        assert (await client.notification())["cursor"] == response.cursor
