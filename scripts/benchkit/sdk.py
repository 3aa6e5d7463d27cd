"""The Python SDK's publish rate: unary `publish()` against auto-batched, same run, same gateway.

N coroutines each await M publishes in turn (the way application code publishes: one
notification per event, concurrently across requests), through one `AsyncPublisher`.
Modes: `unary` (one Publish call each), `auto` (auto_batch as shipped: group commit,
2 ms bound), `auto0` (auto_batch with a 0 s window: no gathering while a batch is in
flight, only publishes of one loop pass share a call),
`stream` (one PublishStream shared by every coroutine), and `batch` (the caller builds
500-item publish_batch calls itself: the ceiling). Notifications go to a user nobody is
connected as, so the figures are the publish path, not delivery. Reported per mode:
publishes/s, latency of one publish p50/p99, gateway and publisher CPU per publish,
median of `--repeat` runs.

Run with scripts/bench-sdk [--coroutines 64] [--per 300] [--repeat 3] [--modes ...].
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gateway.client import AsyncPublisher

from . import HOST, uvloop_factory
from .servers import Server, self_cpu, start_server, stop_server
from .stats import percentiles

MODES = ("unary", "auto", "auto0", "stream", "batch")
FIELDS: dict[str, Any] = {"users": ["nobody-online"], "type": "bench.sdk", "data": {"n": 1}}


async def _timed(call: Callable[[], Awaitable[object]], latencies: list[float]) -> None:
    started = time.perf_counter()
    await call()
    latencies.append(time.perf_counter() - started)


async def run_mode(mode: str, address: str, coroutines: int, per: int) -> dict[str, float]:
    auto = mode.startswith("auto")
    window = 0.0 if mode == "auto0" else 0.002
    latencies: list[float] = []
    async with AsyncPublisher(address, auto_batch=auto, batch_window=window) as pub:
        await pub.publish(**FIELDS)  # the channel is up before the clock starts
        rpcs_before = pub.stats.rpcs
        if mode == "batch":
            total = coroutines * per
            started = time.perf_counter()
            for start in range(0, total, 500):
                items = [FIELDS] * min(500, total - start)
                await _timed(functools.partial(pub.publish_batch, items), latencies)
        elif mode == "stream":
            async with pub.stream() as stream:

                async def lane() -> None:
                    for _ in range(per):
                        await _timed(lambda: stream.publish(**FIELDS), latencies)

                started = time.perf_counter()
                await asyncio.gather(*(lane() for _ in range(coroutines)))
        else:

            async def lane() -> None:
                for _ in range(per):
                    await _timed(lambda: pub.publish(**FIELDS), latencies)

            started = time.perf_counter()
            await asyncio.gather(*(lane() for _ in range(coroutines)))
        elapsed = time.perf_counter() - started
        rpcs = pub.stats.rpcs - rpcs_before
    total = coroutines * per
    p = percentiles(sorted(latencies))
    return {
        "per_second": total / elapsed,
        "p50_ms": p["p50"] * 1000,
        "p99_ms": p["p99"] * 1000,
        "items_per_call": total / rpcs if rpcs else float(total),
    }


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server: Server = await start_server("gateway", Path(tmp) / "gateway.log", [], None)
        try:
            address = f"{HOST}:{server.grpc_port}"
            results: dict[str, list[dict[str, float]]] = {m: [] for m in args.modes}
            for _ in range(args.repeat):
                for mode in args.modes:  # interleaved: drift hits every mode alike
                    server_cpu, client_cpu = server.cpu(), self_cpu()
                    figures = await run_mode(mode, address, args.coroutines, args.per)
                    total = args.coroutines * args.per
                    figures["server_us"] = (server.cpu() - server_cpu) / total * 1e6
                    figures["client_us"] = (self_cpu() - client_cpu) / total * 1e6
                    results[mode].append(figures)
        finally:
            await stop_server(server)
    print(
        f"{args.coroutines} coroutines x {args.per} publishes, median of {args.repeat}; "
        "gateway and publisher share this machine"
    )
    header = f"{'mode':8} {'publishes/s':>12} {'x unary':>8} {'p50 ms':>8} {'p99 ms':>8}"
    print(header + f" {'items/call':>10} {'gw µs/pub':>10} {'client µs/pub':>13}")
    med = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in results.items()}
    unary = med.get("unary", {}).get("per_second")
    for mode, f in med.items():
        ratio = f"{f['per_second'] / unary:.1f}x" if unary else "-"
        print(
            f"{mode:8} {f['per_second']:12,.0f} {ratio:>8} {f['p50_ms']:8.2f} {f['p99_ms']:8.2f}"
            f" {f['items_per_call']:10.1f} {f['server_us']:10.1f} {f['client_us']:13.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coroutines", type=int, default=64)
    parser.add_argument("--per", type=int, default=300, help="publishes per coroutine")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", type=lambda s: s.split(","), default=list(MODES))
    args = parser.parse_args()
    unknown = set(args.modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
        runner.run(main_async(args))


if __name__ == "__main__":
    main()
