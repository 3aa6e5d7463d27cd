"""The peers side by side: each key figure for every server of the run, and the gateway's ratio.

One row per figure; one column per server that ran it (gateway, baseline, node, nchan,
...), then the gateway's value divided by each other server's (for "lower is better"
figures too, so > 1 means the gateway needs more). Medians when `--repeat` > 1.
"""

from __future__ import annotations

from typing import Any

from . import Metrics
from .figures import get
from .options import SERVERS

#: (label, scenario, how to read it from the metrics, better: "higher" | "lower")
_FIGURES: list[tuple[str, str, str, str]] = [
    ("per-user delivered/s", "peruser", "notifications_per_s", "higher"),
    ("per-user server CPU µs/notification", "peruser", "cpu_us_per_notification", "lower"),
    ("connects/s", "idle", "connect_per_s", "higher"),
    ("idle RSS KiB/connection", "idle", "rss_per_conn_kib", "lower"),
    ("steady p50 ms", "steady", "latency_ms.p50", "lower"),
    ("steady p99 ms", "steady", "latency_ms.p99", "lower"),
    ("broadcast deliveries/s", "broadcast", "deliveries_per_s", "higher"),
    ("unary1 deliveries/s", "unary1", "deliveries_per_s", "higher"),
]


def _value(metrics: Metrics | None, scenario: str, path: str) -> float | None:
    if metrics is None or "error" in metrics:
        return None
    if scenario == "peruser" and get(metrics, "correct") is False:
        return None  # a run whose messages did not all arrive gives no figure
    if path == "cpu_us_per_notification":
        cpu = get(metrics, "cpu.server_cpu_s")
        frames = get(metrics, "detail.frames")
        if isinstance(cpu, int | float) and isinstance(frames, int | float) and frames:
            return cpu / frames * 1e6
        return None
    value = get(metrics, path)
    return float(value) if isinstance(value, int | float) else None


def peer_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per figure: every server's value and the gateway's ratio to each."""
    rows = []
    for label, scenario, path, better in _FIGURES:
        runs = results.get(scenario)
        if not runs:
            continue
        values = {
            kind: _value(m, scenario, path)
            for kind, m in runs.items()
            # the servers only: not "runs" nor the comparisons (redis_vs_memory, ...)
            if kind in SERVERS and isinstance(m, dict)
        }
        if len([v for v in values.values() if v is not None]) < 2:
            continue
        gateway = values.get("gateway")
        ratios = {
            kind: gateway / value
            for kind, value in values.items()
            if kind != "gateway" and gateway is not None and value
        }
        rows.append({"figure": label, "better": better, "values": values, "gateway_ratio": ratios})
    return rows


def print_peer_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    kinds: list[str] = []
    for row in rows:
        kinds += [k for k in row["values"] if k not in kinds]
    print("\n== the gateway beside its peers (same run; ratio = gateway / peer) ==")
    head = f"{'figure':<38}" + "".join(f"{k:>12}" for k in kinds)
    others = [k for k in kinds if k != "gateway"]
    print(head + "".join(f"{'÷' + k:>12}" for k in others))
    for row in rows:
        cells = "".join(_cell(row["values"].get(k)) for k in kinds)
        ratios = "".join(
            f"{row['gateway_ratio'][k]:>11.2f}x" if k in row["gateway_ratio"] else f"{'-':>12}"
            for k in others
        )
        print(f"{row['figure']:<38}{cells}{ratios}")


def _cell(value: float | None) -> str:
    if value is None:
        return f"{'-':>12}"
    if value >= 100:
        return f"{value:>12,.0f}"
    return f"{value:>12.2f}"
