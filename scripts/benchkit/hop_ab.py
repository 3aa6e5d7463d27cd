"""The gRPC hop of a unary `Publish` (the publisher's call to the handler's first line),
for several servers side by side with their calls interleaved, so that each sees the same
machine: a bare grpc.aio server (uvloop, one method registered by name, a handler that
returns at once) and the gateway, as it is or with extra environment variables.

Not part of scripts/bench: on a shared 2-core machine a steady run's p50 moves by more
than the hop's parts do from one run to the next; interleaving the calls (server A, B, C,
A, B, C ... `--rate` calls/s in all, each started on schedule without waiting for the
last, as the steady scenario does) puts every server under the same load at the same
time. No subscriber is connected, so the gateway's handler does its whole publish but
writes to no one. Every server records CLOCK_MONOTONIC at its handler's entry (the
gateway through a `sitecustomize`, as hop_timeline.py does); the publisher, a grpc.aio
stub on asyncio's loop as the bench's is, records it before each call.

Usage: python scripts/benchkit/hop_ab.py [--calls 600] [--rate 50]
           [--variant "LABEL:NAME=VALUE [NAME=VALUE ...]"] ...   (a gateway with those variables)
       --no-bare / --no-gateway leave the bare server / the gateway as it is out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
for _path in (_ROOT, _ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from grpc import aio  # noqa: E402

from benchkit.connect_cost import wait_ready  # noqa: E402
from benchkit.payload import pad  # noqa: E402
from benchkit.publish import everyone, request  # noqa: E402
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc  # noqa: E402

_GATEWAY_SITE = """\
import atexit, json, os, time
from gateway.grpc.servicer import GatewayServicer
_marks = []
_publish = GatewayServicer.Publish
async def Publish(self, request, context):
    _marks.append(time.monotonic_ns())
    return await _publish(self, request, context)
GatewayServicer.Publish = Publish
atexit.register(lambda: open(os.environ["HOP_MARKS"], "w").write(json.dumps(_marks)))
"""

# The floor: what grpc.aio alone costs. The method is registered by name, as the
# gateway registers Publish, and answers an empty PublishResponse.
_BARE = """\
import asyncio, json, os, sys, time
import grpc, uvloop
from grpc import aio
from gateway.api.v1 import gateway_pb2 as pb
port, out = int(sys.argv[1]), sys.argv[2]
marks = []
async def publish(request, context):
    marks.append(time.monotonic_ns())
    return pb.PublishResponse()
async def main():
    server = aio.server()
    handler = grpc.unary_unary_rpc_method_handler(
        publish, pb.PublishRequest.FromString, pb.PublishResponse.SerializeToString)
    server.add_registered_method_handlers(
        "gateway.api.v1.NotificationGateway", {"Publish": handler})
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    json.dump(marks, open(out, "w"))
    await server.stop(None)
uvloop.run(main())
"""


@dataclass
class _Server:
    label: str
    proc: subprocess.Popen[bytes]
    grpc_port: int
    marks: Path
    starts: list[int] = field(default_factory=list)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_bare(work: Path) -> _Server:
    port, marks = _free_port(), work / "bare.marks"
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    cmd = [sys.executable, "-c", _BARE, str(port), str(marks)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    proc.stdout.readline()
    return _Server("bare grpc.aio", proc, port, marks)


def _start_gateway(work: Path, label: str, extra: dict[str, str]) -> _Server:
    site = work / f"site-{len(list(work.iterdir()))}"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_GATEWAY_SITE)
    http, port, marks = _free_port(), _free_port(), site / "marks"
    env = {**os.environ, "PYTHONPATH": f"{site}:{_ROOT}", "HOP_MARKS": str(marks), **extra}
    cmd = [sys.executable, "-m", "gateway", "--http-port", str(http), "--grpc-port", str(port)]
    cmd += ["--log-level", "WARNING", "--grace-seconds", "1"]
    proc = subprocess.Popen(cmd, cwd=_ROOT, env=env)
    wait_ready(http, proc, within=60)
    return _Server(label, proc, port, marks)


async def _publish(servers: list[_Server], calls: int, rate: float) -> None:
    padding = pad(100)
    channels = [aio.insecure_channel(f"127.0.0.1:{s.grpc_port}") for s in servers]
    stubs = [pb_grpc.NotificationGatewayStub(ch) for ch in channels]  # type: ignore[no-untyped-call]
    try:
        for stub in stubs:  # warm-up, not recorded
            for i in range(20):
                await stub.Publish(request(everyone(), time.time(), 0, i, padding), timeout=10)
        await asyncio.sleep(0.3)

        async def one(stub: pb_grpc.NotificationGatewayStub, server: _Server, i: int) -> None:
            server.starts.append(time.monotonic_ns())
            await stub.Publish(request(everyone(), time.time(), 0, i, padding), timeout=10)

        t0 = time.monotonic() + 0.05
        pending = []
        for i in range(calls):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            k = i % len(servers)
            pending.append(asyncio.ensure_future(one(stubs[k], servers[k], i)))
        await asyncio.gather(*pending)
    finally:
        for ch in channels:
            await ch.close(None)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _variant(text: str) -> tuple[str, dict[str, str]]:
    label, _, assignments = text.partition(":")
    env = dict(item.split("=", 1) for item in assignments.split() if "=" in item)
    return label, env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=600, help="in all, over every server")
    parser.add_argument("--rate", type=float, default=50.0, help="calls/s in all")
    parser.add_argument("--variant", action="append", default=[], type=_variant)
    parser.add_argument("--no-bare", action="store_true")
    parser.add_argument("--no-gateway", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        servers: list[_Server] = []
        try:
            if not args.no_bare:
                servers.append(_start_bare(work))
            if not args.no_gateway:
                servers.append(_start_gateway(work, "gateway", {}))
            for label, env in args.variant:
                servers.append(_start_gateway(work, label, env))
            asyncio.run(_publish(servers, args.calls, args.rate))
        finally:
            for server in servers:
                if server.proc.stdin is not None:  # the bare server stops on a line
                    server.proc.stdin.write(b"\n")
                    server.proc.stdin.flush()
                else:
                    server.proc.terminate()
                server.proc.wait(30)
        print(f"{args.calls} unary Publish calls at {args.rate:g}/s, interleaved; call -> handler:")
        for server in servers:
            marks: list[int] = json.loads(server.marks.read_text())[-len(server.starts) :]
            hops = [(m - s) / 1e3 for s, m in zip(server.starts, marks, strict=True)]
            print(
                f"  {server.label:<24} p50 {_pct(hops, 0.5):6.0f} us  p90 {_pct(hops, 0.9):6.0f}"
                f"  p99 {_pct(hops, 0.99):6.0f}  n {len(hops)}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
