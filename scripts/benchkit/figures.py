"""Which figures the bench shows: per scenario on its run line, and in the summary with targets.

A summary `Figure` names a value in a scenario's metrics (a dotted path), how to format it,
which way is better, and optionally a target checked against the gateway's value. The
"floor" figures come from the kernel-floor measurement (floor.py), not from a server.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import Metrics

Check = Callable[[Metrics | None, Metrics | None], bool | None]

#: Per scenario, the figures of each run's line: (label, path, format).
FIGURE_LINES: dict[str, list[tuple[str, str, str]]] = {
    "broadcast": [
        ("deliveries/s", "deliveries_per_s", "int"),
        ("p50", "latency_ms.p50", "ms"),
        ("p99", "latency_ms.p99", "ms"),
        ("correct", "correct", "ok"),
    ],
    **{
        name: [
            ("deliveries/s", "deliveries_per_s", "int"),
            ("publishes/s", "publishes_per_s", "int"),
            ("publishes/flush", "publishes_per_flush", "float"),
            ("p50", "latency_ms.p50", "ms"),
            ("p99", "latency_ms.p99", "ms"),
            ("correct", "correct", "ok"),
        ]
        for name in ("unary1", "unary32", "unaryprocs")
    },
    "steady": [
        ("p50", "latency_ms.p50", "ms"),
        ("p99", "latency_ms.p99", "ms"),
        ("max", "latency_ms.max", "ms"),
        ("correct", "correct", "ok"),
    ],
    "receipts": [
        ("notifications/s", "notifications_per_s", "int"),
        ("charged with every ack", "charged.per_s", "int"),
        ("server us/n", "charged.server_us", "float"),
        ("kernel", "charged.server_sys_us", "float"),
        ("ack frames/n", "ack_frames.per_n", "float2"),
        ("after the window", "ack_frames.after_per_n", "float2"),
        ("publish-to-ack p50", "ack_ms.p50", "ms"),
        ("p99", "ack_ms.p99", "ms"),
        ("acked", "acks", "int"),
        ("load average", "loadavg", "loadavg"),
        ("correct", "correct", "ok"),
    ],
    "types": [
        ("notifications/s", "notifications_per_s", "int"),
        ("acked/s", "publish_acked_per_s", "int"),
        ("correct", "correct", "ok"),
    ],
    "peruser": [
        ("notifications/s", "notifications_per_s", "int"),
        ("acked/s", "publish_acked_per_s", "int"),
        ("correct", "correct", "ok"),
    ],
    "idle": [
        ("connections", "connections", "int"),
        ("connect/s", "connect_per_s", "int"),
        ("RSS/conn", "rss_per_conn_kib", "kib"),
        ("server busy while connecting", "connect_server_busy", "pct1"),
        ("busiest load process", "connect_load_busiest", "pct1"),
    ],
    "slow": [
        ("others deliveries/s", "others_deliveries_per_s", "int"),
        ("others complete", "others_complete", "yesno"),
        ("stalled close code", "stalled_close_code", "code"),
        ("RSS growth", "rss_growth_mib", "mib"),
        ("publish", "publish_blocked", "blocked"),
    ],
}


def get(metrics: Metrics | None, path: str) -> Any:
    """The value at a dotted path ("latency_ms.p99"), or None."""
    value: Any = metrics
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


@dataclass
class Figure:
    scenario: str  # a scenario name, or "floor"
    label: str
    path: str
    fmt: str
    better: str = ""  # "higher", "lower" or ""
    #: (description, check(gateway metrics, baseline metrics) -> bool | None)
    target: tuple[str, Check] | None = None


def _ratio_at_least(path: str, factor: float) -> Check:
    def check(g: Metrics | None, b: Metrics | None) -> bool | None:
        gv, bv = get(g, path), get(b, path)
        if gv is None or not bv:
            return None
        return bool(gv >= factor * bv)

    return check


def _gateway(path: str, test: Callable[[Any], bool]) -> Check:
    def check(g: Metrics | None, b: Metrics | None) -> bool | None:
        value = get(g, path)
        if value is None:  # not measured, except a missing close code: never closed
            return False if path == "stalled_close_code" else None
        return bool(test(value))

    return check


def _unary_figures(a: argparse.Namespace) -> list[Figure]:
    """Broadcast published with unary calls: 1 and 32 in flight, several processes."""
    procs = f"{a.unary_procs} procs x {a.unary_lanes}"
    rows: list[Figure] = []
    for name, how, factor in (
        ("unary1", "1", 3.0),
        ("unary32", "32", 5.0),
        ("unaryprocs", procs, None),
    ):
        label = f"unary broadcast, {how} in flight"
        target = None
        if factor is not None:
            target = (f">= {factor:g}x baseline", _ratio_at_least("deliveries_per_s", factor))
        rows += [
            Figure(name, f"{label}: deliveries/s", "deliveries_per_s", "int", "higher", target),
            Figure(name, f"{label}: p99", "latency_ms.p99", "ms", "lower"),
            Figure(name, f"{label}: publishes/flush", "publishes_per_flush", "float"),
            Figure(
                name,
                f"{label}: correct",
                "correct",
                "ok",
                "",
                ("every client, all, in order", _gateway("correct", bool)),
            ),
        ]
    return rows


def figures(a: argparse.Namespace) -> list[Figure]:
    """The summary's rows, in order."""
    idle_note = "" if a.idle_connections >= 20_000 else f" (measured at {a.idle_connections})"
    steady = f"steady {a.steady_rate:g}/s x {a.steady_subscribers}"
    return [
        Figure(
            "broadcast",
            "broadcast deliveries/s",
            "deliveries_per_s",
            "int",
            "higher",
            (">= 5x baseline", _ratio_at_least("deliveries_per_s", 5.0)),
        ),
        Figure("broadcast", "broadcast latency p50", "latency_ms.p50", "ms", "lower"),
        Figure("broadcast", "broadcast latency p99", "latency_ms.p99", "ms", "lower"),
        Figure(
            "broadcast",
            "broadcast correct",
            "correct",
            "ok",
            "",
            ("every client, all, in order", _gateway("correct", bool)),
        ),
        *_unary_figures(a),
        Figure("steady", f"{steady} p50", "latency_ms.p50", "ms", "lower"),
        Figure(
            "steady",
            f"{steady} p99",
            "latency_ms.p99",
            "ms",
            "lower",
            ("<= 5 ms", _gateway("latency_ms.p99", lambda v: v <= 5.0)),
        ),
        Figure(
            "floor", f"floor: one fan-out of {a.floor_sockets} raw send() calls", "round_ms", "fan"
        ),
        Figure("floor", "floor: the same, split over two threads", "round_ms_two_threads", "fan2"),
        Figure("steady", f"{steady} max", "latency_ms.max", "ms", "lower"),
        Figure(
            "peruser",
            "per-user notifications/s",
            "notifications_per_s",
            "int",
            "higher",
            (">= 100,000/s", _gateway("notifications_per_s", lambda v: v >= 100_000)),
        ),
        Figure("floor", "floor: raw send() calls/s, one core", "sends_per_s", "sends"),
        Figure(
            "peruser",
            "per-user correct",
            "correct",
            "ok",
            "",
            ("every user, all, in order", _gateway("correct", bool)),
        ),
        Figure(
            "idle",
            "idle RSS per connection",
            "rss_per_conn_kib",
            "kib",
            "lower",
            (f"<= 16 KiB{idle_note}", _gateway("rss_per_conn_kib", lambda v: v <= 16.0)),
        ),
        Figure(
            "idle",
            "connect rate /s",
            "connect_per_s",
            "int",
            "higher",
            (">= 5,000/s", _gateway("connect_per_s", lambda v: v >= 5_000)),
        ),
        Figure("slow", "slow: others deliveries/s", "others_deliveries_per_s", "int", "higher"),
        Figure("slow", "slow: others received %", "others_received_pct", "pct", "higher"),
        Figure(
            "slow",
            "slow: others got everything",
            "others_complete",
            "yesno",
            "",
            ("yes", _gateway("others_complete", bool)),
        ),
        Figure(
            "slow",
            "slow: stalled client close code",
            "stalled_close_code",
            "code",
            "",
            ("4008", _gateway("stalled_close_code", lambda v: v == 4008)),
        ),
        Figure(
            "slow",
            "slow: server RSS growth",
            "rss_growth_mib",
            "mib",
            "lower",
            ("< 256 MiB", _gateway("rss_growth_mib", lambda v: v < 256)),
        ),
    ]
