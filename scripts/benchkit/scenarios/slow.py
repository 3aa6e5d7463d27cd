"""Scenario 5, slow consumer: C clients, one stops reading, a stream of broadcasts.

Figures: the other clients' deliveries/s and whether they got everything, the close code
the stalled client receives once it reads again (4008 expected), server RSS growth.
A server that blocks on the stalled client is given up on after `--stall-after` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from .. import Metrics
from ..load import Bench, connect, cpu_figures, gather_report, reset, specs, wait_received
from ..payload import pad
from ..publish import Plan, broadcast_lanes, channel, publish_batches
from ..servers import Server
from ..stats import per_second


def title(a: argparse.Namespace) -> str:
    return (
        f"5. slow consumer: {a.slow_clients} clients, one stalled, {a.slow_notifications} "
        f"broadcasts of {a.slow_payload_bytes} bytes, bounded at {a.slow_timeout:g}s"
    )


async def run(bench: Bench, server: Server) -> Metrics:
    a = bench.args
    n, k = a.slow_clients, a.slow_notifications
    conn = await connect(bench, server, specs("w", n))
    clients = conn["ok"]
    await bench.receivers[0].call("stall", index=0)  # global connection 0: it stops reading
    rss_before = server.rss_kib()
    rss_peak = rss_before
    sampling = True

    async def sample_rss() -> None:
        nonlocal rss_peak
        while sampling:
            rss_peak = max(rss_peak, server.rss_kib())
            await asyncio.sleep(0.1)

    sampler = asyncio.ensure_future(sample_rss())
    async with channel(server) as stub:
        mark = await reset(bench, server, a.sample)
        deadline = time.monotonic() + a.slow_timeout
        plan = Plan(
            broadcast_lanes(k, 1),
            a.slow_batch,
            pad(a.slow_payload_bytes),
            clients,
            a.window,
            deadline,
            a.stall_after,
        )
        out = await publish_batches(bench, stub, plan)
        healthy = clients - 1
        others_done = await wait_received(bench, k * healthy, deadline, a.stall_after)
        gave_up = time.time()
    rep = await gather_report(bench)
    sampling = False
    await sampler
    resumed = await bench.receivers[0].call("resume", wait=30, index=0, wait_close=10.0)
    counts = rep["counts"]
    others = counts[1:]
    others_frames = sum(others)
    # A blocked run is measured until it was given up on, not until its last frame.
    wall = max(0.0, (rep["last_rx"] if others_done else gave_up) - out.first_send)
    m: Metrics = {"connections": clients, "connect": conn}
    m["others_deliveries_per_s"] = per_second(others_frames, wall)
    m["others_complete"] = others_done and all(c == k for c in others)
    m["others_received"] = f"{others_frames}/{k * healthy}"
    m["others_received_pct"] = 100.0 * others_frames / max(1, k * healthy)
    m["stalled_received_before_resume"] = counts[0] if counts else 0
    m["stalled_close_code"] = resumed["close_code"]
    m["stalled_result"] = resumed
    m["rss_growth_mib"] = (rss_peak - rss_before) / 1024
    m["publish_blocked"] = out.blocked
    m["close_codes_seen"] = rep["close_codes"]
    m["cpu"] = cpu_figures(bench, server, mark, rep, wall, f"slow/{server.kind}")
    return m
