"""Scenario `receipts`: the per-user load with receipts on and every client acking, against
the same load with receipts off, in the same run (`--servers gateway,receipts`).

The `receipts` server is the gateway started with `--receipts`; its clients ack what they
receive as the SDKs do (cumulative; at once when the connection sent no ack in the last
`--ack-seconds`, 1 s, else one that long after its last, or at 100 owed). Figures: delivered
notifications/s (the runner prints receipts-on as a share of off: the target is >= 0.85),
and publish-to-ack p50/p99 read from the gateway's own `gateway_delivery_seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import urllib.request

from .. import HOST, Metrics
from ..load import Bench, call_all, connect, cpu_figures, specs
from ..servers import Server
from ..stats import per_second
from . import peruser

#: Receipts on as a share of off, per-user notifications/s, that the issue asks for.
TARGET = 0.85


def title(a: argparse.Namespace) -> str:
    return (
        f"receipts: {a.users} users, {a.user_notifications} notifications one user each, "
        f"receipts on + every client acking (at most every {a.ack_seconds:g} s) vs off"
    )


async def run(bench: Bench, server: Server) -> Metrics:
    acking = server.kind == "receipts"
    conn = await connect(bench, server, specs("u", bench.args.users))
    await call_all(bench, "acks", on=acking, seconds=bench.args.ack_seconds)
    measured = await peruser.publish_per_user(bench, server)
    rep, expected, wall = measured.rep, measured.expected, measured.wall
    m: Metrics = {"connections": conn["ok"], "connect": conn}
    m["notifications_per_s"] = per_second(rep["frames"], wall)
    m["correct"] = (
        measured.complete
        and not measured.wrong
        and rep["order_errors"] == 0
        and not measured.out.errors
    )
    m["cpu"] = cpu_figures(bench, server, measured.mark, rep, wall, f"receipts/{server.kind}")
    if acking:  # ack frames the clients sent (before the flush): notifications per ack
        m["ack_frames"] = rep.get("acks_sent", 0)
        await call_all(bench, "flush_acks")
        m["ack_ms"], m["acks"] = await _delivery(server, sum(expected))
    return m


async def _delivery(server: Server, expected: int) -> tuple[dict[str, float | None], int]:
    """Publish-to-ack p50/p99 (ms) from the gateway's histogram, once every ack is in."""
    loop = asyncio.get_running_loop()
    url = f"http://{HOST}:{server.http_port}/metrics"
    buckets: list[tuple[float, float]] = []
    for _ in range(50):  # acks are applied by the gateway's ack task: wait for them (5 s)
        text = await loop.run_in_executor(None, lambda: urllib.request.urlopen(url).read())
        buckets = _buckets(text.decode())
        if buckets and buckets[-1][1] >= expected:
            break
        await asyncio.sleep(0.1)
    total = buckets[-1][1] if buckets else 0
    return {"p50": _quantile(buckets, 0.5), "p99": _quantile(buckets, 0.99)}, int(total)


def _buckets(text: str) -> list[tuple[float, float]]:
    """The histogram's cumulative buckets, every `type` label summed."""
    summed: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("gateway_delivery_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            bound = float("inf") if le == "+Inf" else float(le)
            summed[bound] = summed.get(bound, 0.0) + float(line.split()[-1])
    return sorted(summed.items())


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus' histogram_quantile: linear within the bucket the rank falls in (ms)."""
    if not buckets or not buckets[-1][1]:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower * 1000
            share = (rank - below) / (count - below) if count > below else 1.0
            return (lower + (bound - lower) * share) * 1000
        lower, below = bound, count
    return None
