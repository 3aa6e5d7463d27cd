"""Arithmetic on measurements: percentiles, rates, and one figure from several runs."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from . import Metrics


def percentiles(values: Sequence[float]) -> Metrics:
    """p50/p99/max (nearest rank) of already sorted values, in their unit."""
    if not values:
        return {"p50": None, "p99": None, "max": None, "samples": 0}
    n = len(values)

    def rank(q: float) -> float:
        return values[min(n - 1, max(0, round(q * n) - 1))]

    return {"p50": rank(0.50), "p99": rank(0.99), "max": values[-1], "samples": n}


def per_second(count: float, seconds: float) -> float:
    """`count` per second over `seconds`; 0 when no time passed."""
    return count / seconds if seconds > 0 else 0.0


def combine(runs: list[Metrics]) -> Metrics:
    """One metrics dict from several runs: numbers → median, flags → all, else as-is/list."""
    if len(runs) == 1:
        return runs[0]
    out: Metrics = {}
    for key in dict.fromkeys(k for r in runs for k in r):
        values = [r.get(key) for r in runs]
        if all(isinstance(v, dict) for v in values):
            out[key] = combine(values)  # type: ignore[arg-type]
        elif all(isinstance(v, bool) for v in values):
            out[key] = all(values)
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            out[key] = statistics.median(values)  # type: ignore[type-var]
        elif all(v == values[0] for v in values):
            out[key] = values[0]
        else:
            out[key] = values
    return out
