"""scripts/profile-steady's harness still runs against the code (without valgrind).

It starts a real gateway and drives the service, hub and write-through path with real
sockets, so a change of their shapes must update it; this keeps the tool from rotting unseen.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.helpers import ROOT


def test_the_steady_harness_writes_every_publish_through_to_every_peer() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/benchkit/steady_cost.py"),
            *("--connections", "50", "--publishes", "3", "--warmup", "2"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["labels"] == ["setup", "publish", "fanout", "after", "tick"] * 3
    # every measured publish took the write-through path (the one this tool measures)
    assert report["through"] == 3
    # and the peers read every frame written: 5 publishes to 50 connections
    assert report["frame_bytes"] > 5 * 50 * 100
    assert report["received"] == report["frame_bytes"]
