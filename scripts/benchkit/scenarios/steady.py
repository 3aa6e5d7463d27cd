"""Scenario 2, latency at steady load: N subscribers, R notifications/s for S seconds.

Each notification is a unary Publish to everyone, sent on a fixed schedule without waiting
for the previous one; every frame is timed. Figures: latency p50/p99/max, correctness.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from gateway.api.v1 import gateway_pb2 as pb

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
from ..publish import channel, everyone, request, rpc_error_text, warm_up
from ..servers import Server
from ..stats import percentiles


def title(a: argparse.Namespace) -> str:
    return (
        f"2. latency at steady load: {a.steady_subscribers} subscribers, "
        f"{a.steady_rate:g}/s for {a.steady_seconds:g}s (unary Publish)"
    )


async def run(bench: Bench, server: Server) -> Metrics:
    a = bench.args
    n = a.steady_subscribers
    conn = await connect(bench, server, specs("s", n))
    clients = conn["ok"]
    count = max(1, round(a.steady_rate * a.steady_seconds))
    target = everyone()
    padding = pad(a.payload_bytes)
    async with channel(server) as stub:
        await warm_up(bench, stub, clients)
        mark = await reset(bench, server, 1)
        t0 = time.monotonic() + 0.05
        calls: list[asyncio.Future[pb.PublishResponse]] = []
        first_send = time.time()
        for i in range(count):
            delay = t0 + i / a.steady_rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            calls.append(
                asyncio.ensure_future(
                    stub.Publish(request(target, time.time(), 0, i, padding), timeout=a.timeout)
                )
            )
        results = await asyncio.gather(*calls, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        complete = await wait_received(
            bench, count * clients, time.monotonic() + a.timeout, a.stall_after
        )
    rep = await gather_report(bench)
    wall = max(0.0, rep["last_rx"] - first_send)
    m: Metrics = {"connections": clients, "connect": conn, "published": count}
    m["latency_ms"] = percentiles(rep["lat"])
    wrong = mismatches(rep["counts"], count)
    m["correct"] = complete and not wrong and not errors and rep["order_errors"] == 0
    m["detail"] = {
        "publish_errors": [rpc_error_text(e) for e in errors[:3]],
        "connections_with_wrong_count": wrong,
        "order_errors": rep["order_errors"],
    }
    m["cpu"] = cpu_figures(bench, server, mark, rep, wall, f"steady/{server.kind}")
    return m
