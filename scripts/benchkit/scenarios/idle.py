"""Scenario 4, idle cost: C connections opened and held.

Figures: server RSS per connection (after minus before, over the connections), connections
opened per second, and how busy the server and the load client were while connecting.
"""

from __future__ import annotations

import argparse
import asyncio

from .. import Metrics
from ..load import SATURATED, Bench, connect, specs
from ..servers import Server


def title(a: argparse.Namespace) -> str:
    return f"4. idle cost: {a.idle_connections} connections held"


async def run(bench: Bench, server: Server) -> Metrics:
    a = bench.args
    n = a.idle_connections
    await asyncio.sleep(0.5)
    before = server.rss_kib()
    cpu0 = server.cpu()
    conn = await connect(bench, server, specs("i", n))
    cpu1 = server.cpu()
    await asyncio.sleep(1.0)
    after = server.rss_kib()
    ok = max(1, conn["ok"])
    m: Metrics = {
        "connections": conn["ok"],
        "connect": conn,
        "connect_per_s": conn["rate"],
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_per_conn_kib": (after - before) / ok,
        "connect_server_cpu_s": cpu1 - cpu0,
        "connect_server_busy": (cpu1 - cpu0) / max(conn["seconds"], 1e-9),
    }
    m["connect_load_busiest"] = conn["load_busiest"]
    if conn["load_busiest"] >= SATURATED or m["connect_server_busy"] < 0.7:
        bench.warnings.append(
            f"idle/{server.kind}: while connecting the server was {m['connect_server_busy']:.0%} "
            f"busy and the busiest load process {conn['load_busiest']:.0%}: the connect rate is "
            "limited by the load client"
        )
    m["correct"] = conn["ok"] == n
    if a.idle_hold > 0:
        print(
            f"    holding {conn['ok']} connections to pid {server.pid} for {a.idle_hold:g}s",
            flush=True,
        )
        await asyncio.sleep(a.idle_hold)
    return m
