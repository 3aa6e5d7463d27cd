"""Replica scaling on Redis: what one notification costs Redis and each replica, R = 1..8.

For each R, a redis-server of its own and R gateway processes on it; `--idle` connected
users per replica (so every replica holds subscriptions, as in production), then three
phases, each publishing through replica 0 with PublishBatch:

  nobody     per-user notifications to users nobody holds: what a replica that holds none
             of the addressees pays (issue 15: ~20 µs each with one stream followed by all)
  spread     per-user notifications to `--users` users connected round robin over the R
             replicas (each received, counted by the clients)
  broadcast  notifications to everyone, `--subscribers` connections spread over the replicas

CPU from `INFO cpu` (Redis) and /proc (each replica) before and after each phase, divided
by the notifications it published: µs per notification. `--shards 1,3` runs each R once per
shard count, the log sharded over that many redis-servers (a list of URLs): each shard's
Redis CPU per notification beside one Redis's, in the same run. The same broadcast phase also runs
against one gateway on the memory backend, for the "Redis vs memory" ratio. The machine is
shared: the load average is printed with every run; read ratios within one run.

Run with scripts/bench-replicas [--replicas 1,2,4,8] [--notifications 20000] [--json FILE].
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc

from . import HOST, uvloop_factory
from .servers import Server, free_port, start_server, stop_server

Figures = dict[str, Any]


class Redis:
    """A redis-server of the run's own (no persistence)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", HOST, "--save", ""),
                *("--appendonly", "no", "--dir", str(workdir)),
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(250):
            with contextlib.suppress(redis.RedisError):
                if redis.Redis.from_url(self.url).ping():
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def cpu(self) -> float:
        with redis.Redis.from_url(self.url) as client:
            info: dict[str, Any] = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Receivers:
    """WebSocket clients in this process; counts the notifications they receive."""

    def __init__(self) -> None:
        self.received = 0
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self, server: Server, user_id: str) -> None:
        ws = await self._http.ws_connect(f"http://{HOST}:{server.http_port}/ws?user_id={user_id}")
        await ws.receive()  # welcome
        self._tasks.append(asyncio.create_task(self._read(ws)))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT and message.data.startswith(
                '{"event":"notification"'
            ):
                self.received += 1

    async def wait_for(self, count: int, within: float) -> bool:
        deadline = time.monotonic() + within
        while self.received < count and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        return self.received >= count

    async def ready(self, server: Server, within: float = 30.0) -> None:
        """Until the gateway reaches its backend (/readyz answers 200)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with self._http.get(f"http://{HOST}:{server.http_port}/readyz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
        raise RuntimeError("a gateway did not become ready")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.close()


def _request(user_id: str | None, i: int) -> pb.PublishRequest:
    target = (
        pb.Target(everyone=pb.Everyone())
        if user_id is None
        else pb.Target(users=pb.UserIds(user_ids=[user_id]))
    )
    return pb.PublishRequest(
        target=target, notification=pb.Notification(type="bench.replicas", title=f"n{i}")
    )


async def _publish(server: Server, requests: list[pb.PublishRequest], batch: int) -> None:
    async with aio.insecure_channel(f"{HOST}:{server.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)  # type: ignore[no-untyped-call]
        for i in range(0, len(requests), batch):
            await stub.PublishBatch(pb.PublishBatchRequest(requests=requests[i : i + batch]))


async def _phase(
    name: str,
    redis_servers: list[Redis],
    servers: list[Server],
    receivers: Receivers,
    requests: list[pb.PublishRequest],
    expected: int,
    batch: int,
) -> Figures:
    """Publish `requests` through servers[0]; CPU per notification of Redis and each replica."""
    await asyncio.sleep(0.5)  # connections settled
    received = receivers.received
    redis_before = [server.cpu() for server in redis_servers]
    before = [s.cpu() for s in servers]
    started = time.monotonic()
    await _publish(servers[0], requests, batch)
    complete = await receivers.wait_for(received + expected, 60)
    wall = time.monotonic() - started
    await asyncio.sleep(0.3)  # late deliveries counted in the CPU too
    n = len(requests)
    per = [(s.cpu() - b) / n * 1e6 for s, b in zip(servers, before, strict=True)]
    figures: Figures = {
        "notifications": n,
        "complete": complete,
        "deliveries_per_s": (receivers.received - received) / wall if wall else None,
        "replica_us": per,
        "publishing_replica_us": per[0],
        "other_replicas_us_median": sorted(per[1:])[len(per[1:]) // 2] if per[1:] else None,
        "cluster_us": sum(per),
    }
    if redis_servers:
        shard_us = [
            (server.cpu() - before) / n * 1e6
            for server, before in zip(redis_servers, redis_before, strict=True)
        ]
        figures["redis_shard_us"] = shard_us
        figures["redis_us"] = sum(shard_us)
        figures["cluster_us"] += figures["redis_us"]
    return figures


async def run_replicas(args: argparse.Namespace, r: int, workdir: Path, shards: int = 1) -> Figures:
    redis_servers = [Redis(workdir) for _ in range(shards)] if r else []
    servers: list[Server] = []
    receivers = Receivers()
    try:
        urls = ",".join(server.url for server in redis_servers)
        backend = ["--backend", urls] if redis_servers else []
        for i in range(max(1, r)):  # one at a time: a busy machine starts 8 slowly
            log_path = workdir / f"r{r}-{i}.log"
            servers.append(await start_server("gateway", log_path, backend, None))
        for server in servers:
            await receivers.ready(server)
        for i, server in enumerate(servers):
            for u in range(args.idle):
                await receivers.open(server, f"idle-{i}-{u}")
        figures: Figures = {"replicas": r, "shards": shards, "loadavg": os.getloadavg()}
        if r:
            ghosts = [_request(f"nobody-{i}", i) for i in range(args.notifications)]
            figures["nobody"] = await _phase(
                "nobody", redis_servers, servers, receivers, ghosts, 0, args.batch
            )
            for u in range(args.users):
                await receivers.open(servers[u % len(servers)], f"user-{u}")
            spread = [_request(f"user-{i % args.users}", i) for i in range(args.notifications)]
            figures["spread"] = await _phase(
                "spread", redis_servers, servers, receivers, spread, len(spread), args.batch
            )
        for s in range(args.subscribers):
            await receivers.open(servers[s % len(servers)], f"sub-{s}")
        listening = args.subscribers + args.idle * len(servers) + (args.users if r else 0)
        broadcasts = [_request(None, i) for i in range(args.broadcasts)]
        figures["broadcast"] = await _phase(
            "broadcast",
            redis_servers,
            servers,
            receivers,
            broadcasts,
            len(broadcasts) * listening,
            args.broadcast_batch,
        )
        return figures
    finally:
        await receivers.close()
        for server in servers:
            await stop_server(server)
        for redis_server in redis_servers:
            redis_server.stop()


def _show(figures: Figures) -> None:
    r, shards = figures["replicas"], figures.get("shards", 1)
    name = "memory" if not r else f"R={r}" + (f", {shards} shards" if shards > 1 else "")
    load = " ".join(f"{x:.1f}" for x in figures["loadavg"])
    print(f"\n{name} (load average {load})", flush=True)
    for phase in ("nobody", "spread", "broadcast"):
        f = figures.get(phase)
        if not f:
            continue
        others = f["other_replicas_us_median"]
        print(
            f"  {phase:9} redis {f.get('redis_us', 0):6.1f} µs  publishing replica "
            f"{f['publishing_replica_us']:6.1f} µs  other replicas (median) "
            f"{'-' if others is None else f'{others:6.2f}'} µs  cluster {f['cluster_us']:6.1f} µs"
            f"  deliveries/s {f['deliveries_per_s'] or 0:,.0f}"
            f"{'' if f['complete'] else '  INCOMPLETE'}",
            flush=True,
        )
        if len(f.get("redis_shard_us", ())) > 1:
            each = "  ".join(f"{us:6.1f}" for us in f["redis_shard_us"])
            print(f"  {'':9} redis per shard {each} µs", flush=True)


def _shard_ratios(runs: list[Figures]) -> dict[str, Any]:
    """Each shard's Redis CPU per notification over one Redis's, for the same R."""
    out: dict[str, Any] = {}
    one = {f["replicas"]: f for f in runs if f.get("shards", 1) == 1 and f["replicas"]}
    for f in runs:
        base = one.get(f["replicas"])
        if f.get("shards", 1) < 2 or base is None:
            continue
        for phase in ("nobody", "spread", "broadcast"):
            name = f"{phase}_redis_each_of_{f['shards']}_shards_vs_1_R{f['replicas']}"
            out[name] = [us / base[phase]["redis_us"] for us in f[phase]["redis_shard_us"]]
    return out


def _ratios(runs: list[Figures]) -> dict[str, Any]:
    shard_ratios = _shard_ratios(runs)
    runs = [f for f in runs if f.get("shards", 1) == 1]
    by_r = {f["replicas"]: f for f in runs}
    one, top = by_r.get(1), by_r.get(max(by_r))
    out: dict[str, Any] = {}
    if one and top and top is not one:
        for phase in ("nobody", "spread"):
            out[f"{phase}_redis_R{top['replicas']}_vs_R1"] = (
                top[phase]["redis_us"] / one[phase]["redis_us"]
            )
            out[f"{phase}_cluster_R{top['replicas']}_vs_R1"] = (
                top[phase]["cluster_us"] / one[phase]["cluster_us"]
            )
        out["nobody_uninvolved_replica_us"] = top["nobody"]["other_replicas_us_median"]
    memory = by_r.get(0)
    if memory and one:
        out["broadcast_redis_R1_vs_memory"] = (
            one["broadcast"]["deliveries_per_s"] / memory["broadcast"]["deliveries_per_s"]
        )
    return {**out, **shard_ratios}


async def main_async(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    runs = []
    try:
        counts = [0, *args.replicas] if args.memory else list(args.replicas)
        for r in counts:
            for shards in args.shards if r else [1]:
                figures = await run_replicas(args, r, workdir, shards)
                _show(figures)
                runs.append(figures)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ratios = _ratios(runs)
    print("\nratios (this run):")
    for key, value in ratios.items():
        shown = (
            "-"
            if value is None
            else " ".join(f"{v:.2f}" for v in value)
            if isinstance(value, list)
            else f"{value:.2f}"
        )
        print(f"  {key}: {shown}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "ratios": ratios}, indent=2))


def _counts(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", default="1,2,4,8", type=_counts)
    parser.add_argument(
        "--shards", default="1", type=_counts, help="shard counts to run each R with: 1,3"
    )
    parser.add_argument("--notifications", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--users", type=int, default=200, help="held users in the spread phase")
    parser.add_argument("--idle", type=int, default=20, help="other users held per replica")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--broadcasts", type=int, default=1000)
    parser.add_argument("--broadcast-batch", type=int, default=50)
    parser.add_argument("--no-memory", dest="memory", action="store_false")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
        runner.run(main_async(args))


if __name__ == "__main__":
    main()
