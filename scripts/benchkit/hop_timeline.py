"""Where a steady-scenario publish's time goes: the publisher's call to the first and last
frame at the subscribers, for the gateway (unary gRPC Publish) and nchan (HTTP POST).

Not part of scripts/bench: a measurement of one path. It starts the server, opens
`--subscribers` WebSocket connections in a child process that timestamps every recv(),
publishes `--rate` notifications/s for `--seconds` from this process the way the steady
scenario does (the same request, a grpc.aio stub or peers.NchanPublisher, a call started
on schedule without waiting for the last), and prints per publish, as medians and p99s:

- call → first frame: the publisher's call to the first recv() of it at any subscriber
  (the hop: client, transport, server admission, first send, loopback wake-up);
- first → last frame: the fan-out as the subscribers saw it;
- call → answer: when the publisher had its response.

With `--server gateway` the gateway is started with a `sitecustomize` that records, per
call, the handler's entry and the fan-out's (`Hub.write_through`) start and end, so the
hop splits into call → handler and handler → first send. All times are CLOCK_MONOTONIC.
Usage: python scripts/benchkit/hop_timeline.py --server gateway|nchan [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
for _path in (_ROOT, _ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from grpc import aio  # noqa: E402

from benchkit import peers  # noqa: E402
from benchkit.connect_cost import wait_ready  # noqa: E402
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc  # noqa: E402

_SITE = """\
import atexit, json, os, time
from gateway.grpc.servicer import GatewayServicer
from gateway.hub import Hub
_marks = []
_publish, _through = GatewayServicer.Publish, Hub.write_through
async def Publish(self, request, context):
    _marks.append(("handler", time.monotonic_ns()))
    return await _publish(self, request, context)
def write_through(self, target, item):
    _marks.append(("fanout", time.monotonic_ns()))
    try:
        return _through(self, target, item)
    finally:
        _marks.append(("fanout_end", time.monotonic_ns()))
GatewayServicer.Publish, Hub.write_through = Publish, write_through
atexit.register(lambda: open(os.environ["HOP_MARKS"], "w").write(json.dumps(_marks)))
"""

_SUBSCRIBE = """\
import json, select, selectors, socket, sys, time
port, count, no_welcome, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
req = "GET /ws?user_id=u{} HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\n" \\
    "Connection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n" \\
    "Sec-WebSocket-Version: 13\\r\\n\\r\\n"
socks = []
for i in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req.format(i).encode())
    buf = b""
    while b"\\r\\n\\r\\n" not in buf:
        buf += s.recv(4096)
    if not no_welcome and len(buf.split(b"\\r\\n\\r\\n", 1)[1]) < 2:
        s.recv(4096)
    s.setblocking(False)
    socks.append(s)
sel = selectors.DefaultSelector()
for s in socks:
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
times = []
end = None
while True:
    events = sel.select(timeout=1.0)
    now = time.monotonic_ns()
    if not events and end is not None:
        break
    for key, _ in events:
        if key.fileobj.recv(65536):
            times.append(now)
        else:
            sel.unregister(key.fileobj)
    if end is None and select.select([sys.stdin], [], [], 0)[0]:
        end = sys.stdin.readline()  # the publisher is done: stop once the frames stop
json.dump(times, open(out, "w"))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(args: argparse.Namespace, work: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    http = _free_port()
    if args.server == "nchan":
        cmd = peers.prepare("nchan", http, work / "nchan", "steady")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        return proc, http, 0
    grpc_port = _free_port()
    site = work / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SITE)
    env = {**os.environ, "PYTHONPATH": f"{site}:{_ROOT}", "HOP_MARKS": str(work / "marks")}
    cmd = [sys.executable, "-m", "gateway", "--http-port", str(http), "--grpc-port"]
    cmd += [str(grpc_port), "--log-level", "WARNING", "--grace-seconds", "1"]
    proc = subprocess.Popen(cmd, cwd=_ROOT, env=env)
    return proc, http, grpc_port


async def _publish(args: argparse.Namespace, http: int, grpc_port: int) -> list[list[int]]:
    from benchkit.payload import pad
    from benchkit.publish import everyone, request

    rows: list[list[int]] = []
    padding = pad(100)

    async def one(stub: object, i: int) -> None:
        row = [time.monotonic_ns(), 0]
        rows.append(row)
        await stub.Publish(request(everyone(), time.time(), 0, i, padding), timeout=10)  # type: ignore[attr-defined]
        row[1] = time.monotonic_ns()

    async def run(stub: object) -> None:
        for i in range(10):  # warm-up
            await one(stub, i)
        await asyncio.sleep(0.5)
        rows.clear()
        count = int(args.rate * args.seconds)
        t0 = time.monotonic() + 0.05
        calls = []
        for i in range(count):
            delay = t0 + i / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            calls.append(asyncio.ensure_future(one(stub, i)))
        await asyncio.gather(*calls)

    if args.server == "nchan":
        publisher = peers.NchanPublisher(http)
        try:
            await run(publisher)
        finally:
            await publisher.close()
    else:
        async with aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            await run(pb_grpc.NotificationGatewayStub(channel))  # type: ignore[no-untyped-call]
    return rows


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _report(name: str, values: list[float]) -> None:
    ms = [v / 1e6 for v in values]
    print(f"  {name:<28} p50 {_pct(ms, 0.5):7.3f} ms  p99 {_pct(ms, 0.99):7.3f} ms  n {len(ms)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("gateway", "nchan"), default="gateway")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        proc, http, grpc_port = _start(args, work)
        try:
            wait_ready(http, proc, within=60)
            cmd = [sys.executable, "-c", _SUBSCRIBE, str(http), str(args.subscribers)]
            cmd += ["1" if args.server == "nchan" else "0", str(work / "recv")]
            sub = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert sub.stdout is not None and sub.stdin is not None
            sub.stdout.readline()
            rows = asyncio.run(_publish(args, http, grpc_port))
            time.sleep(0.5)
            sub.stdin.write(b"end\n")
            sub.stdin.flush()
            sub.wait(60)
        finally:
            proc.terminate()
            proc.wait(30)
        recv: list[int] = json.loads((work / "recv").read_text())
        marks = json.loads((work / "marks").read_text()) if args.server == "gateway" else []
    starts = [row[0] for row in rows]
    bursts: list[list[int]] = [[] for _ in starts]
    ends = [*starts[1:], starts[-1] + int(1e9 / args.rate)] if starts else []
    for t in recv:  # a frame belongs to the last publish before it, within its interval
        i = bisect.bisect_right(starts, t) - 1
        if i >= 0 and t < ends[i]:
            bursts[i].append(t)
    print(f"{args.server}: {len(rows)} publishes at {args.rate:g}/s, {args.subscribers} subs")
    _report("call -> first frame", [b[0] - s for s, b in zip(starts, bursts, strict=True) if b])
    _report("first -> last frame", [b[-1] - b[0] for b in bursts if b])
    _report("call -> answer", [r[1] - r[0] for r in rows])
    if marks:
        by = {k: [t for kind, t in marks if kind == k] for k in ("handler", "fanout", "fanout_end")}
        handler = {bisect.bisect_right(starts, t) - 1: t for t in by["handler"]}
        fanout = {bisect.bisect_right(starts, t) - 1: t for t in by["fanout"]}
        end = {bisect.bisect_right(starts, t) - 1: t for t in by["fanout_end"]}
        keys = [i for i in range(len(starts)) if i in handler and i in fanout and i in end]
        _report("call -> handler", [handler[i] - starts[i] for i in keys])
        _report("handler -> fan-out start", [fanout[i] - handler[i] for i in keys])
        _report("fan-out start -> end", [end[i] - fanout[i] for i in keys])
        _report("fan-out end -> answer", [rows[i][1] - end[i] for i in keys])
        _report(
            "fan-out start -> 1st frame",
            [bursts[i][0] - fanout[i] for i in keys if bursts[i]],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
