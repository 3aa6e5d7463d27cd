"""The benchmark is part of the project: it must at least start and explain itself."""

from __future__ import annotations

import subprocess
import sys

from tests.support.helpers import ROOT


def test_bench_help_lists_every_scenario() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/bench.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for scenario in ("broadcast", "unary1", "unary32", "unaryprocs", "steady", "peruser", "idle"):
        assert scenario in result.stdout
    assert "--backend URL" in result.stdout  # the Redis log beside the memory one
