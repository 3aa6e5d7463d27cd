"""Scenario `receipts`: the per-user load with receipts on and every client acking, against
the same load with receipts off, in the same run (`--servers gateway,receipts`, which adds
`receipts0`), servers alternating round by round.

Servers: `gateway` (receipts off, clients never ack); `receipts` (`--receipts`, clients ack
as the SDKs do: cumulative; at once when the connection sent no ack in the last
`--ack-seconds`, 1 s, else one that long after its last, or at once at 100 owed);
`receipts0` (the same server, every notification acked at once: the sparse worst case).

How it measures, and why (a fair figure in both directions):

- **Warm-up, then the window.** Each round first sends every user one notification and
  waits until the leading-edge ack each user's client sends for it has been applied; the
  measured window (`--receipt-notifications`, 500,000 by default: ~10 s at ~50k/s, ten ack
  intervals) starts right after. A gateway that has run for a while sees every user already
  inside an ack interval, not one leading-edge ack per user at the window's start (the old
  2 s window, 100,000 notifications, sent 0.40 ack frames per notification in it and 0.10
  after it). In the steady state one ack frame per user per interval covers what the user
  received in it: users / (rate x interval) ack frames per notification, ~0.2 at 50k/s and
  ~0.3 at 35k/s; printed as measured.
- **Every ack is charged.** The window ends when the last notification frame arrives; the
  acks owed then (the trailing acks due within the next interval) are flushed by the
  clients, and the gateway's CPU is read again only once every notification's ack has been
  applied (its `gateway_delivery_seconds` count is all of them). The figures charge the
  whole of it: server CPU per notification from the window's start to the last ack applied,
  and **delivered/s charged**: the wall-clock rate with the window stretched by the CPU the
  server spent after it, at the rate it was busy in it (frames / (wall + CPU after / busy)).
  A rule that deferred acks past the window would otherwise be charged less than it costs.
  The flushed acks each cover half an interval's notifications on average where the steady
  state's cover a whole one, so this errs against receipts, by at most one ack frame per
  user (~0.02 per notification). The receipts-off server is charged the same way (its CPU
  after the window is the idle loop's).

The ratio checked against the issue's 0.85 is the `receipts` server's charged delivered/s
over the `gateway` server's, medians of the rounds. It is the issue's figure (per-user
delivered/s, the SDKs' ack rule, every client acking) with no cost left outside the window;
it also carries what the load client spends sending the acks on the same two cores (the C
receivers' CPU per frame goes from ~2.2 to ~3.7 us), which a real deployment's clients
spend elsewhere, so it errs against receipts there. Beside it are printed: the uncharged
wall-clock ratio (what the figure was before, flattering a deferring rule), the server-CPU
ratio (off / on us per notification, charged the same way: steadier on a shared machine,
what the same cores serve once the gateway is CPU-bound), and the same three for
`receipts0`. The CPU ratio errs the other way: on loopback the gateway's write() also runs
its clients' TCP receive (softirq in its context, ~2.7 of the ~14.5 us per notification
off, measured with `--perf-record`), paid alike with receipts on and off, which pulls the
ratio towards 1 (0.67x -> ~0.63x without it), while the acks' own TCP receive runs in the
clients' send() and is not charged to the gateway. The deployment's figure lies between
the two: the charged rate errs against receipts, and is the one checked.

The `receipts0` figure is not the one checked: it is the other ack rule's extreme, one ack
frame per notification (what the SDKs send when each user's notifications are more than an
interval apart), on this bench's dense load. It is the figure to show for "every
notification acked": what each ack costs a busy gateway. It does not show a sparse
deployment's wake-ups: here the event loop never sleeps (one epoll wait per ~200
notifications with or without acks, `--perf`), so an ack is read with other work, where an
idle gateway would be woken for it (cheap then: it is idle).

Also: publish-to-ack p50/p99 (the gateway's histogram, the warm-up's observations taken
out), ack frames per notification (sent in the window, and after it: the trailing ones
and the flush), and the load average at each round's start and end (shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import urllib.request
from typing import Any

from .. import HOST, Metrics, perfwatch
from ..load import Bench, call_all, connect, cpu_figures, specs
from ..options import RECEIPTS
from ..servers import Server
from ..stats import per_second
from . import peruser

#: Receipts on as a share of off, per-user notifications/s charged, that the issue asks for.
TARGET = 0.85
#: How long the acks may take to be applied after the flush, and how long without progress.
APPLIED_WITHIN, STALL_AFTER = 30.0, 3.0


def title(a: argparse.Namespace) -> str:
    return (
        f"receipts: {a.users} users, {a.receipt_notifications} notifications one user each "
        f"after a warm-up of one each, receipts on + every client acking (at most every "
        f"{a.ack_seconds:g} s; receipts0: every notification) vs off, every ack charged"
    )


async def run(bench: Bench, server: Server) -> Metrics:
    a = bench.args
    acking = server.kind in RECEIPTS
    load_start = os.getloadavg()[0]
    conn = await connect(bench, server, specs("u", a.users))
    seconds = 0.0 if server.kind == "receipts0" else a.ack_seconds
    await call_all(bench, "acks", on=acking, seconds=seconds)
    warm = await peruser.publish_per_user(bench, server, a.users)
    before: list[tuple[float, float]] = []
    if acking:  # every user's leading-edge ack applied before the window opens
        before = await _applied(server, a.users)
    watch = None
    if a.perf is not None:  # the window in the real process: benchkit/perfwatch.py
        label = f"receipts-{server.kind}-{server.pid}"
        watch = perfwatch.start(server.pid, a.perf, label, a.perf_record)
    measured = await peruser.publish_per_user(bench, server, a.receipt_notifications)
    rep, wall = measured.rep, measured.wall
    frames = rep["frames"]
    m: Metrics = {"connections": conn["ok"], "connect": conn}
    m["notifications_per_s"] = per_second(frames, wall)
    m["correct"] = (
        warm.complete
        and not warm.wrong
        and measured.complete
        and not measured.wrong
        and rep["order_errors"] == 0
        and not measured.out.errors
    )
    m["cpu"] = cpu_figures(bench, server, measured.mark, rep, wall, f"receipts/{server.kind}")
    done = time.monotonic()
    after: list[tuple[float, float]] = []
    if acking:
        sent = sum(await call_all(bench, "flush_acks"))
        after = await _applied(server, a.users + sum(measured.expected))
        window_acks = rep.get("acks_sent", 0)
        m["ack_frames"] = {
            "window": window_acks,
            "after": sent - window_acks,
            "per_n": sent / frames if frames else None,
            "after_per_n": (sent - window_acks) / frames if frames else None,
        }
        m["acks"] = _count(after) - _count(before)  # notifications acked in the window
        m["ack_ms"] = _quantiles(_minus(after, before))
        m["acks_applied_within_s"] = time.monotonic() - done
    m["charged"] = _charged(server, measured, frames)
    if watch is not None:  # from before the window's start to the last ack applied
        m["perf"] = perfwatch.stop(watch, frames)
    m["loadavg"] = [load_start, os.getloadavg()[0]]
    return m


def _charged(server: Server, measured: peruser.PerUser, frames: int) -> Metrics:
    """The server's CPU from the window's start to now (every ack applied), per notification,
    and the delivered/s it implies: the window stretched by the CPU spent after it, at the
    rate the server was busy within it."""
    mark, wall = measured.mark, max(measured.wall, 1e-9)
    total = server.cpu() - mark.server_cpu
    kernel = server.kernel_cpu() - mark.server_kernel_cpu
    window = measured.end_cpu - mark.server_cpu
    later = max(0.0, total - window)
    busy = window / wall
    stretched = wall + (later / busy if busy > 0 else 0.0)
    n = max(frames, 1)
    return {
        "per_s": per_second(frames, stretched),
        "server_us": total / n * 1e6,
        "server_sys_us": kernel / n * 1e6,
        "window_us": window / n * 1e6,
        "after_s": later,
        "wall_s": stretched,
    }


def compare(results: dict[str, Any], runs: dict[str, list[Metrics]]) -> Metrics | None:
    """Receipts on vs off in this run, printed; the `receipts` server's charged ratio is the
    one checked against TARGET (see the module's docstring for why)."""
    off = results.get("gateway")
    if not off or "error" in off:
        return None
    out: Metrics = {"target": TARGET, "ratio": None}
    loads = [r["loadavg"] for rs in runs.values() for r in rs if "loadavg" in r]
    low = min((x for pair in loads for x in pair), default=0.0)
    high = max((x for pair in loads for x in pair), default=0.0)
    print(
        f"  receipts on vs off (medians; load average {low:.1f}-{high:.1f} over the rounds; "
        "steady state: a warm-up, then the window; every ack charged, the flushed ones too, "
        "so 'charged' is the figure checked; why: benchkit/scenarios/receipts.py):"
    )
    for kind, label in (
        ("receipts", "SDK ack rule, every client acking"),
        ("receipts0", "every notification acked (sparse worst case)"),
    ):
        on = results.get(kind)
        if not on or "error" in on:
            continue
        fig = _ratios(on, off)
        pairs = zip(runs.get(kind, []), runs.get("gateway", []), strict=False)
        rounds = [r for r in (_ratios(x, y)["ratio"] for x, y in pairs) if r is not None]
        fig["rounds"] = rounds
        out[kind] = fig
        verdict = ""
        if kind == "receipts":
            out["ratio"] = fig["ratio"]
            ok = fig["ratio"] is not None and fig["ratio"] >= TARGET
            verdict = f"; target >= {TARGET}x: {'PASS' if ok else 'FAIL'}"
        span = f"rounds {min(rounds):.2f}-{max(rounds):.2f}" if rounds else "one round"
        print(
            f"    {label}: {_x(fig['ratio'])} delivered/s charged with every ack ({span}"
            f"{verdict}); wall clock {_x(fig['wall_ratio'])}; server CPU "
            f"{_f(fig['off_us'])} -> {_f(fig['on_us'])} us/n ({_x(fig['cpu_ratio'])}; kernel "
            f"{_f(fig['off_sys_us'])} -> {_f(fig['on_sys_us'])}); ack frames/n "
            f"{_f(fig['ack_frames_per_n'], 2)} ({_f(fig['after_per_n'], 2)} after the window)",
            flush=True,
        )
    return out


def _ratios(on: Metrics, off: Metrics) -> Metrics:
    c_on, c_off = on.get("charged") or {}, off.get("charged") or {}
    acks = on.get("ack_frames") or {}
    return {
        "ratio": _share(c_on.get("per_s"), c_off.get("per_s")),
        "wall_ratio": _share(on.get("notifications_per_s"), off.get("notifications_per_s")),
        "cpu_ratio": _share(c_off.get("server_us"), c_on.get("server_us")),
        "on_us": c_on.get("server_us"),
        "off_us": c_off.get("server_us"),
        "on_sys_us": c_on.get("server_sys_us"),
        "off_sys_us": c_off.get("server_sys_us"),
        "ack_frames_per_n": acks.get("per_n"),
        "after_per_n": acks.get("after_per_n"),
    }


def _share(ours: Any, theirs: Any) -> float | None:
    if isinstance(ours, int | float) and isinstance(theirs, int | float) and theirs:
        return float(ours / theirs)
    return None


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _f(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


async def _applied(server: Server, expected: int) -> list[tuple[float, float]]:
    """The publish-to-ack histogram's cumulative buckets once `expected` notifications have
    been acked (its count), or when it stops growing (`STALL_AFTER`) or after
    `APPLIED_WITHIN`: acks are applied by the gateway's ack task, a little after they
    arrive. Polled every 0.1 s: each /metrics costs the server a little CPU, charged."""
    loop = asyncio.get_running_loop()
    url = f"http://{HOST}:{server.http_port}/metrics"
    buckets: list[tuple[float, float]] = []
    start = last_change = time.monotonic()
    while True:
        text = await loop.run_in_executor(None, lambda: urllib.request.urlopen(url).read())
        seen = _buckets(text.decode())
        now = time.monotonic()
        if _count(seen) != _count(buckets):
            last_change = now
        buckets = seen
        if _count(buckets) >= expected:
            return buckets
        if now - last_change > STALL_AFTER or now - start > APPLIED_WITHIN:
            return buckets
        await asyncio.sleep(0.1)


def _count(buckets: list[tuple[float, float]]) -> int:
    return int(buckets[-1][1]) if buckets else 0


def _buckets(text: str) -> list[tuple[float, float]]:
    """The histogram's cumulative buckets, every `type` label summed."""
    summed: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("gateway_delivery_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            bound = float("inf") if le == "+Inf" else float(le)
            summed[bound] = summed.get(bound, 0.0) + float(line.split()[-1])
    return sorted(summed.items())


def _minus(
    after: list[tuple[float, float]], before: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The observations made between two readings of the buckets."""
    earlier = dict(before)
    return [(bound, count - earlier.get(bound, 0.0)) for bound, count in after]


def _quantiles(buckets: list[tuple[float, float]]) -> dict[str, float | None]:
    return {"p50": _quantile(buckets, 0.5), "p99": _quantile(buckets, 0.99)}


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
