"""Instructions of one unary broadcast fanned out to live WebSocket subscribers (callgrind).

`scripts/profile-steady` runs this under `valgrind --tool=callgrind --dump-before=getppid`,
as `stages.py` is run: each `os.getppid()` is a marker and callgrind writes one dump per
stage. Unlike `stages.py`, the sockets are real: a `Gateway` is started in this process on
uvloop (the memory log, as the steady bench runs it), and a child process (not traced by
valgrind) opens `--connections` WebSocket connections to it and drains them as fast as the
kernel hands it bytes. Each measured publish is one notification to everyone through
`NotificationService.publish`, `--gap` seconds after the previous one, so the scheduler lets
it write through (`FlushScheduler.write_through`, `outbox.write_each`) as in the steady
bench at 50/s. The gRPC hop is not in it (its cost is per call, not per subscriber: see
`scripts/profile-publish` and the gRPC notes in docs/performance-rounds.md).

Stages of each publish: `publish` (the service up to the fan-out: encode, the log's
append), `fanout` (the hub's `write_through`: a frame written to each connection, the
kernel's send() included, which callgrind does not count), `after` (the rest of the
service's call), and `tick` (the loop pass after it: uvloop's queued writes of frames the
kernel did not take at once).

Printed: instructions per publish for each stage and per subscriber for the fan-out, and
how many frame bytes the peers read (all of them, or the run is refused).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import selectors
import sys
import time
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[2]
for _path in (_ROOT, _ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from benchkit.connect_cost import connect_all  # noqa: E402
from benchkit.stages import stage_totals  # noqa: E402

#: The stages of one publish, in order.
STAGES = ("publish", "fanout", "after", "tick")

#: The label of each marker in order (the stage that ends there), read by `report`.
LABELS: list[str] = []


def mark(label: str) -> None:
    """The end of stage `label`: callgrind dumps its counters before libc's getppid."""
    LABELS.append(label)
    os.getppid()


def peers(port: int, count: int) -> int:
    """The child: `count` connections, then read everything until stdin closes; prints the
    bytes read after the welcomes."""
    socks = connect_all(port, 0, count, 100)
    sel = selectors.DefaultSelector()
    for opened in socks:
        opened.setblocking(False)
        sel.register(opened, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    print("ready", flush=True)
    total = 0
    while True:
        for key, _ in sel.select():
            if key.fileobj is sys.stdin:
                print(total, flush=True)
                return 0
            sock: Any = key.fileobj
            try:
                data = sock.recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(sock)
            total += len(data)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from gateway.app import Gateway
    from gateway.config import Settings
    from gateway.gc_policy import settle
    from gateway.models import EveryoneTarget, NotificationItem, PublishItem
    from gateway.speedups import speedups

    gateway = Gateway(
        Settings(http_port=0, grpc_port=0, log_level="WARNING", heartbeat_seconds=3600.0)
    )
    await gateway.start()
    service = gateway.service
    hub = service.hub
    hub_module: Any = importlib.import_module("gateway.hub")
    written = {"frames": 0, "bytes": 0, "through": 0}
    write_each = hub_module.write_each
    measuring = False

    def counted(conns: Any, item: Any) -> None:
        if measuring:
            mark("publish")
        write_each(conns, item)
        if measuring:
            mark("fanout")
        written["through"] += 1
        written["frames"] += len(conns)
        written["bytes"] += len(conns) * len(item.ws)

    # the hub's module name is the one `Hub.write_through` calls (the Hub has __slots__)
    hub_module.write_each = counted
    child = await asyncio.create_subprocess_exec(
        *(sys.executable, __file__, "--peers", str(gateway.http_port), str(args.connections)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        line = await child.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"the peers did not connect: {line!r}")
        # the gateway's side of the last handshakes may still be on its way in
        while len(list(hub.connections())) < args.connections:  # noqa: ASYNC110 - no event
            await asyncio.sleep(0.05)
        target = EveryoneTarget()
        pad = "x" * max(0, args.payload_bytes - 56)

        def item(seq: int) -> PublishItem:
            data = {"ts": 1765000000.0 + seq / 1e6, "lane": 0, "seq": seq, "pad": pad}
            notification = NotificationItem(
                f"steady-{seq}", "bench.event", "", "", data, None,
                _now(), None, None,
            )  # fmt: skip
            return PublishItem(target, notification)

        seq = 0
        for _ in range(args.warmup):
            await service.publish(item(seq))
            seq += 1
            await asyncio.sleep(args.gap)
        settle()  # the collector as the server runs it (frozen, its young threshold)
        through = written["through"]
        for _ in range(args.publishes):
            published = item(seq)
            seq += 1
            await asyncio.sleep(args.gap)  # quiet again: the next publish writes through
            measuring = True
            mark("setup")
            await service.publish(published)
            mark("after")
            await asyncio.sleep(0)  # one loop pass: uvloop writes what was queued
            mark("tick")
            measuring = False
        measured_through = written["through"] - through
        await asyncio.sleep(0.5)
        child.stdin.close()
        received = int(await child.stdout.readline())
    finally:
        if not child.stdin.is_closing():
            child.stdin.close()
        await asyncio.wait_for(child.wait(), 60)
        await gateway.drain()
    return {
        "labels": LABELS,
        "publishes": args.publishes,
        "connections": args.connections,
        "through": measured_through,
        "frame_bytes": written["bytes"],
        "received": received,
        "speedups": speedups is not None,
    }


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def report(folder: Path) -> int:
    """Instructions per publish for each stage, from callgrind's numbered dumps."""
    counted = stage_totals(folder)
    if counted is None:
        return 1
    meta, totals = counted
    n, conns = meta["publishes"], meta["connections"]
    speedups = "on" if meta["speedups"] else "off (GATEWAY_NO_SPEEDUPS=1)"
    print(f"{n} publishes to {conns} WebSocket connections each, compiled speedups {speedups}")
    print(f"{'stage':<10} {'instructions per publish':>26} {'per subscriber':>16}")
    total = 0.0
    for label in STAGES:
        per = totals.get(label, 0) / n
        total += per
        print(f"{label:<10} {per:>26,.0f} {per / conns:>16,.0f}")
    print(f"{'total':<10} {total:>26,.0f} {total / conns:>16,.0f}")
    if meta["received"] < meta["frame_bytes"]:
        print(f"the peers read {meta['received']} of {meta['frame_bytes']} bytes", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--publishes", type=int, default=20, help="measured publishes")
    parser.add_argument("--warmup", type=int, default=20, help="publishes before measuring")
    parser.add_argument("--payload-bytes", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between publishes")
    parser.add_argument("--peers", nargs=2, type=int, metavar=("PORT", "N"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="read the callgrind dumps in DIR (and DIR/labels.json) and print the table",
    )
    args = parser.parse_args(argv)
    if args.peers is not None:
        return peers(*args.peers)
    if args.report is not None:
        return report(args.report)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a dependency
        print("uvloop is not installed", file=sys.stderr)
        return 2
    started = time.monotonic()
    meta = uvloop.run(measure(args))
    meta["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
