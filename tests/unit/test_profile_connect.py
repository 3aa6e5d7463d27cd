"""scripts/profile-connect's load side still runs against a real gateway (without valgrind).

Its cProfile mode starts `python -m gateway`, makes every connection wait for its 101 and
welcome and aborts them, as the callgrind mode does; this keeps the tool from rotting unseen.
"""

from __future__ import annotations

import subprocess
import sys

from tests.support.helpers import ROOT


def test_the_connect_harness_connects_and_profiles_each_connect() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/benchkit/connect_cost.py"),
            "--python-profile",
            "--connections",
            "40",
            "--warmup",
            "10",
            "--functions",
            "200",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # every measured connect reached the edge once (the warm-up ones were not profiled)
    opens = [line for line in result.stdout.splitlines() if "edge.py" in line and "(open)" in line]
    assert len(opens) == 1 and opens[0].split()[0] == "40", result.stdout[-2000:]
