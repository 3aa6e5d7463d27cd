"""Real Redis for the Redis-backend tests: a redis-server of our own on a free port, and
gateways on it (in this process, or as child processes that a test can stop or kill).

No skip: a machine without redis-server fails these tests (.ci/run installs it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from gateway.app import Gateway
from tests.support.gateway import Client
from tests.support.helpers import free_port
from tests.support.waiting import until


class RedisServer:
    """One redis-server process; `persistent` keeps its data across stop/start (AOF)."""

    def __init__(self, workdir: Path, *, persistent: bool = False) -> None:
        self.port = free_port()
        self.dir = workdir
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *extra: str) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += extra
        args += ["--dir", str(self.dir), "--appendonly", "yes" if self.persistent else "no"]
        if self.persistent:
            args += ["--appendfsync", "always"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
            self.process = None

    def command(self, *args: str) -> str:
        """Run one command with redis-cli; its output."""
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, check=True
        )
        return out.stdout.decode().strip()


@contextmanager
def redis_servers(root: Path, count: int) -> Iterator[list[RedisServer]]:
    """`count` redis-servers of their own (a sharded backend's), each in a folder under
    `root`; those started are stopped on exit."""
    servers = []
    for i in range(count):
        (root / f"s{i}").mkdir()
        servers.append(RedisServer(root / f"s{i}"))
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


class RedisClusterServers:
    """A real Redis Cluster of `masters` redis-servers (no replicas) on free ports."""

    def __init__(self, workdir: Path, masters: int = 3) -> None:
        self.nodes = [RedisServer(workdir / f"node-{i}") for i in range(masters)]
        self._args: dict[int, list[str]] = {}

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.dir.mkdir(exist_ok=True)
            bus = str(free_port())  # not port + 10000: a free port may be above 55535
            # a master that is down leaves the others serving their slots (a shard's loss
            # is that shard's), as the replicas page asks of a production cluster
            args = self._args[node.port] = [
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                *("--cluster-port", bus, "--cluster-require-full-coverage", "no"),
            ]
            node.start(*args)
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        create = ["--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"]
        subprocess.run(
            ["redis-cli", *create],
            capture_output=True,
            check=True,
        )
        deadline = time.monotonic() + 20
        while not all("cluster_state:ok" in n.command("CLUSTER", "INFO") for n in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def restart(self, node: RedisServer) -> None:
        """Start a stopped node again: it rejoins with its slots (nodes.conf), and no data."""
        node.start(*self._args[node.port])

    def node_of(self, key: str) -> RedisServer:
        """The node that owns `key`'s slot."""
        slot = int(self.nodes[0].command("CLUSTER", "KEYSLOT", key))
        for node in self.nodes:
            if _owns(node, slot):
                return node
        raise RuntimeError(f"no node owns slot {slot}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _owns(node: RedisServer, slot: int) -> bool:
    for line in node.command("CLUSTER", "NODES").splitlines():
        fields = line.split()
        if "myself" in fields[2]:
            for spec in fields[8:]:
                low, _, high = spec.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return True
    return False


class ChildGateway:
    """A gateway in a child process (`python -m gateway`), so a test can SIGSTOP or kill it."""

    def __init__(self, redis_url: str, *, stderr: Any = None, **settings: Any) -> None:
        """`stderr`: where the child's log goes (a file to read it afterwards)."""
        self.http_port = free_port()
        self.grpc_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(
            GATEWAY_BACKEND=redis_url,
            GATEWAY_HTTP_PORT=str(self.http_port),
            GATEWAY_GRPC_PORT=str(self.grpc_port),
            GATEWAY_LOG_LEVEL="WARNING",
            **{f"GATEWAY_{k.upper()}": str(v) for k, v in settings.items()},
        )
        self.process = subprocess.Popen([sys.executable, "-m", "gateway"], env=env, stderr=stderr)

    async def ready(self, http: aiohttp.ClientSession, within: float = 15.0) -> None:
        await ready_at(http, self.http_port, within, "the child gateway")

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait(10)


async def reached_redis(gateway: Gateway, within: float = 10.0) -> None:
    """Returns once `gateway`'s log answers (its feed is live); fails the test after
    `within` seconds."""
    await until(lambda: gateway.log.healthy, within, "the gateway did not reach Redis")


async def ready_at(http: aiohttp.ClientSession, port: int, within: float, what: str) -> None:
    """Until the gateway on `port` answers /readyz with 200 (its follower reached Redis)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not become ready")


async def ws_client(
    http: aiohttp.ClientSession, port: int, user_id: str, *, welcome: bool = True, **params: str
) -> Client:
    ws = await http.ws_connect(f"http://127.0.0.1:{port}/ws", params={"user_id": user_id, **params})
    client = Client(ws)
    if welcome:
        event = await client.event()
        assert event["event"] == "welcome", event
    return client


class SentinelServer:
    """One redis-sentinel watching `master` under the name `gw` (quorum 1, quick failover)."""

    def __init__(self, workdir: Path, master_port: int) -> None:
        self.port = free_port()
        self.config = workdir / f"sentinel-{self.port}.conf"
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor gw 127.0.0.1 {master_port} 1\n"
            "sentinel down-after-milliseconds gw 500\n"
            "sentinel failover-timeout gw 3000\n"
        )
        self.process = subprocess.Popen(
            ["redis-server", str(self.config), "--sentinel"], stdout=subprocess.DEVNULL
        )

    def url(self, db: int = 0) -> str:
        return f"redis+sentinel://127.0.0.1:{self.port}/gw/{db}"

    def master_port(self) -> int | None:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), "SENTINEL", "get-master-addr-by-name", "gw"],
            capture_output=True,
        ).stdout.split()
        return int(out[1]) if len(out) == 2 else None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
