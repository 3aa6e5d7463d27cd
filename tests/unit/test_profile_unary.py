"""scripts/profile-unary's harness still runs against a real gateway (without valgrind).

Its cProfile mode starts `python -m gateway`, connects subscribers and makes unary Publish
calls as the callgrind mode does; its in-process mode drives the method grpc registers for
`Publish` (deserializer, guarded behaviour, serializer). This keeps both from rotting unseen.
"""

from __future__ import annotations

import subprocess
import sys

from tests.support.helpers import ROOT

SCRIPT = str(ROOT / "scripts/benchkit/unary_cost.py")
ARGS = ["--calls", "30", "--warmup", "5", "--subscribers", "3"]


def test_the_unary_harness_publishes_to_a_real_gateway_and_profiles_each_call() -> None:
    result = subprocess.run(
        [sys.executable, SCRIPT, "--python-profile", *ARGS, "--functions", "300"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # every measured call reached the servicer once (the warm-up ones were not profiled)
    rows = [line for line in result.stdout.splitlines() if "servicer.py" in line]
    publish = [line for line in rows if "(Publish)" in line]
    assert len(publish) == 1 and publish[0].split()[0] == "30", result.stdout[-2000:]


def test_the_in_process_mode_runs_the_registered_publish_method() -> None:
    subprocess.run(
        [sys.executable, SCRIPT, "--in-process-child", "--calls", "20", "--warmup", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
