"""Scenarios 6-8, broadcast published like a backend: unary Publish, one notification a call.

N subscribers, K notifications to everyone, with 1 or 32 calls in flight from this process,
or from several publisher processes. Figures: deliveries/s, latency p50/p99, publishes per
flush (the gateway's /metrics; the baseline writes each publish alone), and whether every
client got every notification in order.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Awaitable, Callable

import aiohttp

from .. import HOST, Metrics
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
from ..publish import Outcome, Plan, broadcast_lanes, channel, publish_batches, warm_up
from ..publishers import publish_from_processes
from ..servers import Server
from ..stats import per_second, percentiles


def _title(label: str) -> Callable[[argparse.Namespace], str]:
    def title(a: argparse.Namespace) -> str:
        if label == "procs":
            how = f"{a.unary_procs} publisher processes x {a.unary_lanes} in flight each"
        else:
            how = f"{label} in flight"
        return (
            f"broadcast, unary Publish ({how}): {a.subscribers} subscribers x "
            f"{a.unary_notifications} notifications ({a.payload_bytes}-byte data), "
            f"window {a.window}"
        )

    return title


async def _flush_counters(server: Server) -> tuple[int, int] | None:
    """(flushes, flushed publishes) from the gateway's /metrics; None for the baseline."""
    if server.kind == "baseline":
        return None
    url = f"http://{HOST}:{server.http_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        text = await resp.text()
    # prometheus-client prints counters as floats ("12.0")
    pattern = r"^gateway_(flushes|flushed_publishes)_total ([0-9.e+]+)$"
    found = dict(re.findall(pattern, text, re.M))
    return int(float(found.get("flushes", 0))), int(float(found.get("flushed_publishes", 0)))


def _run(in_flight: int, procs: int) -> Callable[[Bench, Server], Awaitable[Metrics]]:
    async def run(bench: Bench, server: Server) -> Metrics:
        a = bench.args
        n, k = a.subscribers, a.unary_notifications
        conn = await connect(bench, server, specs("b", n))
        clients = conn["ok"]
        padding = pad(a.payload_bytes)
        async with channel(server) as stub:
            await warm_up(bench, stub, clients)
            before = await _flush_counters(server)
            mark = await reset(bench, server, a.sample)
            deadline = time.monotonic() + a.timeout
            if procs:
                merged = await publish_from_processes(
                    bench,
                    server.grpc_port,
                    procs,
                    in_flight,
                    k,
                    padding,
                    clients,
                    a.window,
                    a.timeout,
                )
                out = Outcome(
                    merged["sent"],
                    merged["first_send"],
                    merged["last_ack"],
                    0,
                    [],
                    merged["blocked"],
                )
            else:
                lanes = broadcast_lanes(k, in_flight)
                plan = Plan(lanes, 1, padding, clients, a.window, deadline, a.stall_after)
                out = await publish_batches(bench, stub, plan, unary=True)
            complete = await wait_received(bench, k * clients, deadline, a.stall_after)
            after = await _flush_counters(server)
        rep = await gather_report(bench)
        wall = max(0.0, rep["last_rx"] - out.first_send)
        m: Metrics = {"connections": clients, "connect": conn}
        m["deliveries_per_s"] = per_second(rep["frames"], wall)
        m["publishes_per_s"] = per_second(out.sent, wall)
        m["latency_ms"] = percentiles(rep["lat"])
        if before is not None and after is not None:
            flushes = after[0] - before[0]
            m["publishes_per_flush"] = (after[1] - before[1]) / flushes if flushes else None
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
            "blocked": out.blocked,
            "close_codes": rep["close_codes"],
        }
        m["cpu"] = cpu_figures(bench, server, mark, rep, wall, f"unary/{server.kind}")
        return m

    return run


title1, run1 = _title("1"), _run(1, 0)
title32, run32 = _title("32"), _run(32, 0)
title_procs = _title("procs")


async def run_procs(bench: Bench, server: Server) -> Metrics:
    return await _run(bench.args.unary_lanes, bench.args.unary_procs)(bench, server)
