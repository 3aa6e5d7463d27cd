"""Two builds of the gateway side by side in one run: this tree's against another checkout
(`tree`, e.g. the code before a change), or with tracing on (`traced`) against off.

A claim such as "off costs nothing" is a ratio near 1, which the shared machine's noise
can fake either way; so besides the ratio of the runs' medians this reports the median of
each round's own ratio (the servers alternate within a round, so a round's two runs see
the same load) and the server CPU each spent on the same work, with every round's
figures for the reader to judge the spread.
"""

from __future__ import annotations

import statistics
from typing import Any

from . import Metrics
from .figures import FIGURE_LINES, get


def _ratio(ours: Any, theirs: Any) -> float | None:
    if isinstance(ours, int | float) and isinstance(theirs, int | float) and theirs:
        return float(ours / theirs)
    return None


def compare(
    name: str, results: dict[str, Any], runs: dict[str, list[Metrics]], ours: str, theirs: str
) -> dict[str, Any] | None:
    """`ours` against `theirs` on the scenario's headline figure and on server CPU, or None
    when either did not run. Ratios are ours / theirs (CPU: below 1 is cheaper)."""
    if not results.get(ours) or not results.get(theirs):
        return None
    label, path, _ = FIGURE_LINES[name][0]
    pairs = list(zip(runs.get(ours, []), runs.get(theirs, []), strict=False))
    rounds = [r for r in (_ratio(get(a, path), get(b, path)) for a, b in pairs) if r is not None]
    cpu = "cpu.server_cpu_s"
    cpu_rounds = [r for r in (_ratio(get(a, cpu), get(b, cpu)) for a, b in pairs) if r is not None]
    line: dict[str, Any] = {
        "figure": label,
        ours: get(results[ours], path),
        theirs: get(results[theirs], path),
        "ratio": _ratio(get(results[ours], path), get(results[theirs], path)),
        "round_ratios": rounds,
        "median_round_ratio": statistics.median(rounds) if rounds else None,
        "server_cpu_ratio": _ratio(get(results[ours], cpu), get(results[theirs], cpu)),
        "server_cpu_round_ratios": cpu_rounds,
    }

    def shown(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}x"

    line["median_round_server_cpu_ratio"] = statistics.median(cpu_rounds) if cpu_rounds else None
    each = ", ".join(f"{r:.3f}" for r in rounds)
    each_cpu = ", ".join(f"{r:.3f}" for r in cpu_rounds)
    print(
        f"  {ours} vs {theirs}: {label} {shown(line['ratio'])} (medians), "
        f"{shown(line['median_round_ratio'])} (median of the rounds' ratios: {each or 'n/a'}); "
        f"server CPU {shown(line['server_cpu_ratio'])} (medians), "
        f"{shown(line['median_round_server_cpu_ratio'])} (rounds: {each_cpu or 'n/a'})",
        flush=True,
    )
    return line
