"""scripts/benchkit/hop_timeline.py still times a publish end to end against a real gateway.

It starts `python -m gateway` with a sitecustomize that timestamps the handler and the
fan-out, subscribes real WebSocket connections and publishes as the steady scenario does;
this keeps the tool (and its hooks into the servicer and the hub) from rotting unseen.
"""

from __future__ import annotations

import subprocess
import sys

from tests.support.helpers import ROOT

SCRIPT = str(ROOT / "scripts/benchkit/hop_timeline.py")
ARGS = ["--subscribers", "4", "--rate", "20", "--seconds", "0.5"]


def test_the_timeline_splits_a_gateway_publish_into_its_hops() -> None:
    result = subprocess.run(
        [sys.executable, SCRIPT, "--server", "gateway", *ARGS],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = {line.split(" p50")[0].strip(): line for line in result.stdout.splitlines()}
    # every publish was seen by a subscriber, and the server's marks matched each call
    for hop in ("call -> first frame", "call -> handler", "handler -> fan-out start"):
        assert lines[hop].endswith("n 10"), result.stdout
