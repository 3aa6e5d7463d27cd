"""scripts/bench draws its summary as PNG and SVG beside the JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from benchkit.plots import advantage, comparable  # noqa: E402

ROWS: list[dict[str, Any]] = [
    {
        "figure": "broadcast deliveries/s",
        "gateway": 1_700_000,
        "baseline": 80_000,
        "better": "higher",
        "fmt": "int",
    },
    {
        "figure": "broadcast latency p99",
        "gateway": 200.0,
        "baseline": 1_000.0,
        "better": "lower",
        "fmt": "ms",
    },
    {
        "figure": "slow: server RSS growth",
        "gateway": 18.0,
        "baseline": 2.0,
        "better": "lower",
        "fmt": "mib",
    },
    {"figure": "broadcast correct", "gateway": True, "baseline": True, "better": "", "fmt": "ok"},
    {
        "figure": "floor",
        "gateway": None,
        "baseline": None,
        "better": "",
        "fmt": "fan",
        "floor": {"p50": 1.0},
    },
    {
        "figure": "per-user notifications/s",
        "gateway": 9_000,
        "baseline": None,
        "better": "higher",
        "fmt": "int",
    },
]
PAYLOAD = {
    "meta": {
        "date": "2026-12-06T04:00:00+00:00",
        "commit": "abc1234",
        "cpus": 2,
        "loadavg_at_start": [1.5, 1.0, 0.5],
        "python": "3.11.7",
    },
    "summary": ROWS,
}


def test_only_figures_with_two_values_and_a_direction_are_drawn() -> None:
    rows = comparable(ROWS)
    assert [row["figure"] for row in rows] == [
        "broadcast deliveries/s",
        "broadcast latency p99",
        "slow: server RSS growth",
    ]
    # right of 1x is better, whichever way the figure is better
    assert [round(advantage(row), 2) for row in rows] == [21.25, 5.0, 0.11]


def test_bench_plot_draws_png_and_svg_beside_the_json(tmp_path: Path) -> None:
    results = tmp_path / "bench-results.json"
    results.write_text(json.dumps(PAYLOAD))
    subprocess.run(
        [sys.executable, str(ROOT / "scripts/bench.py"), "--plot", str(results)],
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    for name in ("ratios", "figures"):
        png = tmp_path / f"bench-results.{name}.png"
        svg = tmp_path / f"bench-results.{name}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        root = ET.fromstring(svg.read_bytes())
        assert root.tag.endswith("svg")
        text = svg.read_text()
        for row in comparable(ROWS):
            assert row["figure"] in text, (name, row["figure"])
        assert "per-user notifications/s" not in text  # no baseline value: not drawn
    assert "21.2x" in (tmp_path / "bench-results.ratios.svg").read_text()
    first = (tmp_path / "bench-results.ratios.svg").read_bytes()
    subprocess.run(
        [sys.executable, str(ROOT / "scripts/bench.py"), "--plot", str(results)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    assert (tmp_path / "bench-results.ratios.svg").read_bytes() == first  # no timestamps


def test_results_with_nothing_to_compare_draw_nothing(tmp_path: Path) -> None:
    results = tmp_path / "r.json"
    results.write_text(json.dumps({"meta": {}, "summary": ROWS[3:]}))
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/bench.py"), "--plot", str(results)],
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout
    assert "no plots" in out
    assert not list(tmp_path.glob("*.png"))
