"""Sentinel: the gateway finds the master through redis-sentinel, and follows a failover."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
from grpc import aio

from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from tests.support.gateway import StartGateway
from tests.support.helpers import request, users
from tests.support.redis_helpers import RedisServer, SentinelServer, ws_client


async def test_a_failover_is_followed_and_clients_stay_connected(
    start_gateway: StartGateway, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    master = RedisServer(tmp_path / "m")
    master.start()
    replica = RedisServer(tmp_path / "r")
    replica.start("--replicaof", "127.0.0.1", str(master.port))
    sentinel = SentinelServer(tmp_path, master.port)
    try:
        deadline = time.monotonic() + 30  # generous: the machine may be busy
        while sentinel.master_port() != master.port:
            assert time.monotonic() < deadline, "sentinel did not start"
            await asyncio.sleep(0.1)
        while "master_link_status:up" not in replica.command("INFO", "replication"):
            assert time.monotonic() < deadline, "the replica did not sync"
            await asyncio.sleep(0.1)
        gateway = await start_gateway(backend=sentinel.url())
        while not gateway.log.healthy:
            assert time.monotonic() < deadline, "the gateway did not reach the master"
            await asyncio.sleep(0.05)
        alice = await ws_client(http, gateway.http_port, "alice")
        async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
            stub = pb_grpc.NotificationGatewayStub(channel)
            before = await stub.Publish(request(users("alice"), "before"))
            assert (await alice.notification())["cursor"] == before.cursor
            # replication is asynchronous: what the replica lacks at the failover is lost,
            # and the gateway says so (a new epoch: 4010); here it has caught up first
            assert master.command("WAIT", "1", "10000") == "1"
            master.stop()
            deadline = time.monotonic() + 30
            while sentinel.master_port() != replica.port:
                assert time.monotonic() < deadline, "no failover"
                await asyncio.sleep(0.1)
            while True:  # publishes fail fast until the gateway reaches the new master
                try:
                    after = await stub.Publish(request(users("alice"), "after"), timeout=5)
                    break
                except aio.AioRpcError:
                    assert time.monotonic() < deadline, "the gateway did not follow the failover"
                    await asyncio.sleep(0.2)
            assert (await alice.notification(timeout=10))["cursor"] == after.cursor
    finally:
        sentinel.stop()
        replica.stop()
        master.stop()
