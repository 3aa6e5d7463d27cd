"""scripts/profile-receipts' harness still runs against the code (without valgrind).

It drives receipts' own objects (service, store, tracker, connections, client ops, the
WebSocket frame reader), so a change of their shapes must update it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.support.helpers import ROOT


def _harness(*args: str) -> dict[str, Any]:
    """The harness run as scripts/profile-receipts runs it (without valgrind): its report."""
    script = str(ROOT / "scripts/benchkit/receipt_stages.py")
    result = subprocess.run(
        [sys.executable, script, "--users", "50", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_the_receipts_harness_runs_every_stage() -> None:
    report = _harness("--rounds", "1")
    for stage in ("publish_off", "flush_off", "publish_on", "flush_on", "receive", "apply"):
        assert stage in report["labels"]
    # every connection's ack of every round was applied and turned its notification delivered
    assert report["delivered"] == 50 * 2
    assert report["acks_applied"] == 50 * 2


def test_the_harness_counts_forgetting_past_the_bound() -> None:
    """--max-tracked N: every round past the first forgets as many as it tracks, in a
    stage of its own, and the acks still find theirs."""
    report = _harness("--rounds", "2", "--max-tracked", "50")
    assert report["labels"].count("forget") == 2
    assert report["forgotten"] == 50 * 2
    assert report["delivered"] == 50 * 3
