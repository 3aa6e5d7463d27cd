"""scripts/profile-publish's pipeline harness still runs against the code (without valgrind).

It drives the publish path's own objects (servicer, service, log, hub, the outgoing side),
so a change of their shapes must update it; this keeps the tool from rotting unseen.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.helpers import ROOT


def test_the_stage_harness_runs_every_stage() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/benchkit/stages.py"), "--batches", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout)
    for stage in ("decode", "translate", "publish", "response", "flush", "encode", "fanout"):
        assert stage in report["labels"]
    # every notification reached its user's connection: one write each per flush
    assert report["writes"] >= report["measured"]
