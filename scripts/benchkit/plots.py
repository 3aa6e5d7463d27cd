"""The bench's summary as pictures: PNG and SVG beside the JSON.

Two figures from the summary rows that compare the gateway with the naive baseline (a
numeric value for both and a direction that is better):

- `<stem>.ratios.{png,svg}`: how many times better the gateway is on each figure, on a log
  scale with 1x marked (for "lower is better" figures the ratio is inverted, so right of
  1x is always better);
- `<stem>.figures.{png,svg}`: each figure's two values side by side, in its own unit.

Ratios within one run are the figures to trust on a shared machine (see the performance
page), so the ratios plot comes first. matplotlib is imported here only, with the Agg
backend: the bench itself never needs a display.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["comparable", "draw", "write_plots"]

#: The unit a row's `fmt` stands for, as an axis label.
_UNITS = {"int": "per second", "ms": "ms", "kib": "KiB", "mib": "MiB", "pct": "%", "float": ""}


def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with a numeric gateway and baseline value and a better direction."""
    return [
        row
        for row in rows
        if row.get("better") in ("higher", "lower")
        and isinstance(row.get("gateway"), int | float)
        and isinstance(row.get("baseline"), int | float)
        and row["gateway"] > 0
        and row["baseline"] > 0
    ]


def advantage(row: dict[str, Any]) -> float:
    """How many times better the gateway is: above 1 is better, whichever way is better."""
    ratio = float(row["gateway"]) / float(row["baseline"])
    return ratio if row["better"] == "higher" else 1.0 / ratio


def draw(json_path: Path, payload: dict[str, Any] | None = None) -> int:
    """Draw the plots of a results file (read unless given) and say where they went."""
    if payload is None:
        payload = json.loads(json_path.read_text())
    try:
        written = write_plots(json_path, payload)
    except ImportError:
        print("no plots: matplotlib is not installed (pip install -e '.[dev]')", file=sys.stderr)
        return 1
    if written:
        print("plots: " + ", ".join(str(path) for path in written))
    else:
        print("no plots: no figure has both a gateway and a baseline value")
    return 0


def write_plots(json_path: Path, payload: dict[str, Any]) -> list[Path]:
    """Draw both figures beside `json_path`; returns the files written (none without rows)."""
    rows = comparable(payload.get("summary") or [])
    if not rows:
        return []
    import matplotlib

    matplotlib.use("Agg")
    # SVG element ids are hashed with a random salt unless one is set: fix it, so that the
    # same results draw the same file (and a committed plot changes only when they do).
    matplotlib.rcParams["svg.hashsalt"] = "notification-gateway"
    # Text as text, not outlines: smaller files, and the labels can be searched and read.
    matplotlib.rcParams["svg.fonttype"] = "none"
    stem = json_path.with_suffix("")
    caption = _caption(payload.get("meta") or {})
    written: list[Path] = []
    for name, draw in (("ratios", _ratios), ("figures", _figures)):
        figure = draw(rows, caption)
        for suffix in (".png", ".svg"):
            path = stem.with_name(f"{stem.name}.{name}{suffix}")
            figure.savefig(path, dpi=110, bbox_inches="tight", metadata=_metadata(suffix))
            written.append(path)
        import matplotlib.pyplot as plt

        plt.close(figure)
    return written


def _metadata(suffix: str) -> dict[str, Any]:
    # No creation date in the files: the same results draw byte-identical pictures.
    return {"Date": None} if suffix == ".svg" else {}


def _caption(meta: dict[str, Any]) -> str:
    parts = []
    if meta.get("date"):
        parts.append(str(meta["date"])[:16].replace("T", " ") + " UTC")
    if meta.get("commit"):
        parts.append(f"commit {meta['commit']}")
    if meta.get("python"):
        parts.append(f"Python {meta['python']}")
    if meta.get("cpus"):
        parts.append(f"{meta['cpus']} CPUs")
    if (meta.get("args") or {}).get("quick"):
        parts.append("--quick")
    load = meta.get("loadavg_at_start")
    if isinstance(load, list | tuple) and load:
        parts.append(f"load average {float(load[0]):.1f} at start")
    return ", ".join(parts)


def _ratios(rows: list[dict[str, Any]], caption: str) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    values = [advantage(row) for row in rows]
    labels = [row["figure"] for row in rows]
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.6))
    colors = ["#2e7d32" if value >= 1 else "#c62828" for value in values]
    positions = range(len(rows))[::-1]
    axes.barh(list(positions), values, color=colors, height=0.6)
    axes.set_yticks(list(positions), labels)
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    axes.axvline(1.0, color="#444", linewidth=1)
    low = min(min(values), 1.0) / 1.6
    high = max(max(values), 1.0) * 1.8
    axes.set_xlim(low, high)
    for y, value in zip(positions, values, strict=True):
        axes.annotate(
            f"{value:.2f}x" if value < 10 else f"{value:.1f}x",
            (value, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    axes.set_xlabel(
        "times better than the naive baseline, same run (log scale; right of 1x is better)"
    )
    axes.set_title("notification-gateway against a naive aiohttp broadcast loop", fontsize=11)
    if caption:
        figure.text(0.01, 0.005, caption, fontsize=7, color="#555")
    figure.tight_layout(rect=(0, 0.02, 1, 1))
    return figure


def _figures(rows: list[dict[str, Any]], caption: str) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    columns = 3
    lines = math.ceil(len(rows) / columns)
    figure, grid = plt.subplots(lines, columns, figsize=(11, 2.8 * lines), squeeze=False)
    cells = [cell for line in grid for cell in line]
    for axes, row in zip(cells, rows, strict=False):
        values = [float(row["gateway"]), float(row["baseline"])]
        bars = axes.bar(["gateway", "baseline"], values, color=["#1565c0", "#9e9e9e"], width=0.6)
        axes.bar_label(bars, labels=[_short(v) for v in values], fontsize=7, padding=2)
        better = "higher is better" if row["better"] == "higher" else "lower is better"
        axes.set_title(f"{row['figure']}\n({better})", fontsize=8)
        axes.set_ylabel(_UNITS.get(row["fmt"], ""), fontsize=7)
        axes.set_ylim(0, max(values) * 1.2)
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _short(value)))
        axes.tick_params(labelsize=7)
    for axes in cells[len(rows) :]:
        axes.set_visible(False)
    figure.suptitle("notification-gateway and the naive baseline, figure by figure", fontsize=11)
    if caption:
        figure.text(0.01, 0.005, caption, fontsize=7, color="#555")
    figure.tight_layout(rect=(0, 0.02, 1, 0.98))
    return figure


def _short(value: float) -> str:
    if value == 0:
        return "0"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.2f}M"
    if value >= 10_000:
        return f"{value / 1_000:.0f}k"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"
