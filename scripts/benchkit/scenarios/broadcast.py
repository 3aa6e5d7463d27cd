"""Scenario 1, broadcast fan-out: N subscribers, K notifications to everyone.

Figures: deliveries/s, latency p50/p99 (every `--sample`-th frame), and whether every
client got every notification in order.
"""

from __future__ import annotations

import argparse
import time

from .. import Metrics
from ..load import (
    Bench,
    connect,
    cpu_figures,
    gather_report,
    mismatches,
    reset,
    specs,
    wait_received,
)
from ..payload import pad
from ..publish import Plan, broadcast_lanes, channel, publish_batches, warm_up
from ..servers import Server
from ..stats import per_second, percentiles


def title(a: argparse.Namespace) -> str:
    return (
        f"1. broadcast fan-out: {a.subscribers} subscribers x {a.notifications} "
        f"notifications ({a.payload_bytes}-byte data), PublishBatch {a.batch} x {a.lanes} lanes, "
        f"window {a.window}"
    )


async def run(bench: Bench, server: Server) -> Metrics:
    a = bench.args
    n, k = a.subscribers, a.notifications
    conn = await connect(bench, server, specs("b", n))
    clients = conn["ok"]
    async with channel(server) as stub:
        await warm_up(bench, stub, clients)
        mark = await reset(bench, server, a.sample)
        deadline = time.monotonic() + a.timeout
        plan = Plan(
            broadcast_lanes(k, a.lanes),
            a.batch,
            pad(a.payload_bytes),
            clients,
            a.window,
            deadline,
            a.stall_after,
        )
        out = await publish_batches(bench, stub, plan)
        complete = await wait_received(bench, k * clients, deadline, a.stall_after)
    rep = await gather_report(bench)
    wall = max(0.0, rep["last_rx"] - out.first_send)
    m: Metrics = {"connections": clients, "connect": conn}
    m["deliveries_per_s"] = per_second(rep["frames"], wall)
    m["latency_ms"] = percentiles(rep["lat"])
    wrong = mismatches(rep["counts"], k)
    m["correct"] = (
        complete
        and not wrong
        and rep["order_errors"] == 0
        and not out.errors
        and not out.blocked
        and clients == n
        and rep["bad_samples"] == 0
    )
    m["detail"] = {
        "frames": rep["frames"],
        "expected": k * clients,
        "connections_with_wrong_count": wrong,
        "order_errors": rep["order_errors"],
        "publish_errors": out.errors,
        "publish_error_samples": out.error_samples,
        "blocked": out.blocked,
        "close_codes": rep["close_codes"],
        "unexpected_lost": rep["unexpected_lost"],
    }
    m["cpu"] = cpu_figures(bench, server, mark, rep, wall, f"broadcast/{server.kind}")
    return m
