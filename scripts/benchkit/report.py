"""What the bench prints and writes: each run's line, the summary table, warnings, the JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from . import Metrics
from .figures import FIGURE_LINES, figures, get


def fmt(value: Any, kind: str) -> str:
    """A figure as the tables show it; `kind` is a Figure's fmt."""
    if value is None:
        return "n/a" if kind != "code" else "none"
    if kind == "float":
        return f"{value:.1f}"
    if kind == "float2":
        return f"{value:.2f}"
    if kind == "loadavg":  # [at the start, at the end], or several runs' (their range)
        flat = [x for v in value for x in (v if isinstance(v, list) else [v])]
        return f"{min(flat):.1f}-{max(flat):.1f}" if flat else "n/a"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "ms":
        return f"{value:.2f} ms"
    if kind == "kib":
        return f"{value:.1f} KiB"
    if kind == "pct1":
        return f"{value:.0%}"
    if kind == "pct":
        return f"{value:.1f}%"
    if kind == "mib":
        return f"{value:.1f} MiB"
    if kind == "ok":
        return "OK" if value else "FAIL"
    if kind == "yesno":
        return "yes" if value else "no"
    if kind == "blocked":
        return f"BLOCKED ({value[:60]})" if value else "completed"
    if kind == "fan":  # the floor's round times
        return (
            f"median {value['p50']:.2f} ms, p99 {value['p99']:.2f} ms "
            "(kernel alone, no server: no fan-out can be faster)"
        )
    if kind == "fan2":
        return (
            f"median {value['p50']:.2f} ms, p99 {value['p99']:.2f} ms "
            "(both cores sending, no server, no load client)"
        )
    if kind == "sends":
        return f"{value:,.0f}/s (kernel alone: the one-core ceiling at one send() per notification)"
    return str(value)


def _per_frame(cpu: Metrics) -> str:
    """The receivers' CPU per frame and which load client they were (older files: none)."""
    us = cpu.get("receiver_cpu_us_per_frame")
    if not isinstance(us, int | float):
        return ""
    return f", {cpu.get('load_client', 'python')} receivers {us:.1f} us/frame"


def print_scenario_line(name: str, kind: str, m: Metrics) -> None:
    if "error" in m:
        print(f"  {kind}: ERROR {m['error']}", flush=True)
        return
    parts = [f"{label} {fmt(get(m, path), kind_)}" for label, path, kind_ in FIGURE_LINES[name]]
    cpu = m.get("cpu")
    if cpu:
        parts.append(
            f"cpu server {cpu['server_cpu_s']:.1f}s ({cpu['server_busy']:.0%}) "
            f"load {cpu['load_cpu_s']:.1f}s (busiest {cpu['load_busiest_proc']:.0%}"
            f"{_per_frame(cpu)}) "
            f"wall {cpu['wall_s']:.2f}s"
        )
    print(f"  {kind}: " + "; ".join(parts), flush=True)


def summary(
    a: argparse.Namespace, results: dict[str, dict[str, Any]], floor: Metrics | None
) -> list[dict[str, Any]]:
    """The summary's rows: each figure for gateway and baseline, ratio, target, verdict.

    A floor row has neither gateway nor baseline: its value is under "floor".
    """
    rows: list[dict[str, Any]] = []
    for fig in figures(a):
        if fig.scenario == "floor":
            if floor is not None:
                rows.append(
                    {
                        "figure": fig.label,
                        "gateway": None,
                        "baseline": None,
                        "ratio": None,
                        "better": "",
                        "target": "",
                        "pass": None,
                        "fmt": fig.fmt,
                        "floor": get(floor, fig.path),
                    }
                )
            continue
        if fig.scenario not in results:
            continue
        g = results[fig.scenario].get("gateway")
        b = results[fig.scenario].get("baseline")
        gv, bv = get(g, fig.path), get(b, fig.path)
        ratio = None
        if fig.better and isinstance(gv, int | float) and isinstance(bv, int | float) and bv:
            ratio = gv / bv
        verdict = None
        if fig.target is not None and g is not None and "error" not in g:
            verdict = fig.target[1](g, b)
        rows.append(
            {
                "figure": fig.label,
                "gateway": gv,
                "baseline": bv,
                "ratio": ratio,
                "better": fig.better,
                "target": fig.target[0] if fig.target else "",
                "pass": verdict,
                "fmt": fig.fmt,
            }
        )
    return rows


def print_summary(rows: list[dict[str, Any]]) -> None:
    """The table; a floor row's value spans the gateway-to-target columns."""
    header = ("figure", "gateway", "baseline", "ratio g/b", "target", "")
    table: list[tuple[str, ...]] = [header]
    for r in rows:
        if "floor" in r:
            table.append((r["figure"], fmt(r["floor"], r["fmt"])))
            continue
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        if r["ratio"] is not None and r["better"]:
            ratio += " (higher better)" if r["better"] == "higher" else " (lower better)"
        verdict = {True: "PASS", False: "FAIL", None: ""}[r["pass"]]
        if r["target"] and r["pass"] is None:
            verdict = "n/a"
        table.append(
            (
                r["figure"],
                fmt(r["gateway"], r["fmt"]),
                fmt(r["baseline"], r["fmt"]),
                ratio,
                r["target"],
                verdict,
            )
        )
    full = [row for row in table if len(row) == len(header)]
    widths = [max(len(row[0]) for row in table)]
    widths += [max(len(row[i]) for row in full) for i in range(1, len(header))]
    print("\n== summary ==")
    for i, row in enumerate(table):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip())
        if i == 0:
            print("-+-".join("-" * w for w in widths))


def print_warnings(warnings: list[str]) -> None:
    if warnings:
        print("\nwarnings:")
        for w in warnings:
            print(f"  ! {w}")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
