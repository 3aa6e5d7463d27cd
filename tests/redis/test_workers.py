"""`--workers N` (issue 15): N processes on one host's ports over the shared backend."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from grpc import aio

from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from tests.support.gateway import Client, StartGateway
from tests.support.helpers import free_port, gateway_process, users
from tests.support.helpers import request as publish_request
from tests.support.redis_helpers import RedisServer, ready_at, ws_client

CONNECTIONS = 24
CHANNELS = 16


def _two_workers(
    redis_server: RedisServer, http_port: int, grpc_port: int, **settings: str
) -> dict[str, str]:
    """The environment of a two-worker gateway on `redis_server`: this process's own,
    without any GATEWAY_ setting of the machine's, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_BACKEND=redis_server.url,
        GATEWAY_HTTP_PORT=str(http_port),
        GATEWAY_GRPC_PORT=str(grpc_port),
        GATEWAY_WORKERS="2",
        GATEWAY_GRACE_SECONDS="5",
        **settings,
    )
    return env


async def test_two_workers_share_the_ports_and_every_publish_reaches_both(
    redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    """The kernel spreads connections over both workers; a publish accepted by either
    reaches every client; one SIGTERM to the supervisor drains both (1001, exit 0)."""
    http_port, grpc_port = free_port(), free_port()
    env = _two_workers(redis_server, http_port, grpc_port)
    proc = await gateway_process(env=env)
    try:
        await ready_at(http, http_port, 30.0, "the workers")
        # both workers ready: each answers /readyz only once it is; a second gateway on
        # the same port is refused by the supervisor's check (not let in by SO_REUSEPORT)
        alone = {k: v for k, v in env.items() if k not in ("GATEWAY_BACKEND", "GATEWAY_WORKERS")}
        intruder = await gateway_process(env={**alone, "GATEWAY_GRPC_PORT": str(free_port())})
        assert await asyncio.wait_for(intruder.wait(), 30) == 2
        clients: list[Client] = []
        while len(clients) < CONNECTIONS:
            try:
                clients.append(await ws_client(http, http_port, "alice"))
            except aiohttp.WSServerHandshakeError:  # a worker still starting: 503
                await asyncio.sleep(0.2)
        delivered: list[int] = []
        cursors = []
        for n in range(CHANNELS):  # each channel its own TCP connection, to either worker
            async with aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                stub = pb_grpc.NotificationGatewayStub(channel)
                reply = await stub.Publish(
                    publish_request(users("alice"), "tick", data={"n": n}), timeout=10
                )
                delivered.append(reply.delivered)
                cursors.append(reply.cursor)
        # `delivered` counts the accepting worker's own connections: k on one, N - k on
        # the other, so 0 < k < N shows both hold connections, and both values that
        # both accepted publishes
        k = delivered[0]
        assert 0 < k < CONNECTIONS, delivered
        assert set(delivered) == {k, CONNECTIONS - k}, delivered
        for client in clients:
            got = [(await client.notification(timeout=10))["cursor"] for _ in cursors]
            assert got == cursors
        proc.send_signal(signal.SIGTERM)
        for client in clients:
            assert await client.closed(timeout=10) == 1001
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_worker_listens_once_its_log_is_live(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    """A worker shares its ports (SO_REUSEPORT): listening before its feed is live, it took
    a share of new connections only to answer them 503 while a live sibling could have
    served them. It now listens once its log is live (or after `WORKER_LIVE_WAIT`)."""
    redis = RedisServer(tmp_path)  # not started: down while the worker starts
    try:
        starting = asyncio.ensure_future(
            start_gateway(
                backend=redis.url, workers=2, http_port=free_port(), grpc_port=free_port()
            )
        )
        await asyncio.sleep(1.0)
        assert not starting.done(), "the worker listened before its log was live"
        redis.start()
        gateway = await asyncio.wait_for(starting, 15)
        assert gateway.log.healthy  # by the time it listens
    finally:
        redis.stop()


async def _lines(proc: asyncio.subprocess.Process, msg: str, count: int) -> list[dict[str, Any]]:
    """Read the processes' shared stderr until `count` JSON lines say `msg`."""
    assert proc.stderr is not None
    found: list[dict[str, str]] = []
    async with asyncio.timeout(30):
        while len(found) < count:
            line = (await proc.stderr.readline()).decode()
            assert line, "the gateway's stderr ended"
            if line.startswith("{") and json.loads(line)["msg"] == msg:
                found.append(json.loads(line))
    return found


async def test_sighup_to_the_supervisor_reloads_every_worker(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """SIGHUP's default action ends a process: the supervisor passes it on to every worker,
    each of which reloads its type registry, instead of dying and leaving them unsupervised."""
    (tmp_path / "t.json").write_text(json.dumps({"type": "a.one", "schema": {"type": "object"}}))
    http_port, grpc_port = free_port(), free_port()
    env = _two_workers(
        redis_server,
        http_port,
        grpc_port,
        GATEWAY_TYPES=str(tmp_path),
        GATEWAY_TYPES_MODE="strict",
        GATEWAY_TYPES_WATCH_SECONDS="0",
    )
    proc = await gateway_process(env=env)
    pids: list[int] = []
    try:
        pids += (await _lines(proc, "workers started", 1))[0]["workers"]
        await _lines(proc, "gateway listening", 2)
        added = {"type": "a.two", "schema": {"type": "object"}}
        (tmp_path / "t2.json").write_text(json.dumps(added))
        proc.send_signal(signal.SIGHUP)
        reloaded = await _lines(proc, "types reloaded", 2)
        assert [line["reason"] for line in reloaded] == ["SIGHUP", "SIGHUP"]
        assert proc.returncode is None
        for n in range(CHANNELS):  # each channel its own TCP connection, to either worker
            async with aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                stub = pb_grpc.NotificationGatewayStub(channel)
                try:
                    await stub.Publish(publish_request(users("u"), "a.two"), timeout=10)
                except grpc.aio.AioRpcError as exc:
                    raise AssertionError(f"channel {n}: {exc.details()}") from None
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for pid in pids:  # workers a dead supervisor left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
