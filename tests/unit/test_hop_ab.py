"""scripts/benchkit/hop_ab.py still sets a bare grpc.aio server and the gateway side by side.

It starts both (the gateway with a sitecustomize that timestamps its Publish handler, and
a variant of it with an extra variable), interleaves unary Publish calls over them and
prints each one's call -> handler hop; this keeps the tool and its hook from rotting unseen.
"""

from __future__ import annotations

import subprocess
import sys

from tests.support.helpers import ROOT

SCRIPT = str(ROOT / "scripts/benchkit/hop_ab.py")


def test_every_server_answers_its_share_of_the_interleaved_calls() -> None:
    args = ["--calls", "12", "--rate", "40", "--variant", "quiet:GATEWAY_LOG_LEVEL=WARNING"]
    result = subprocess.run(
        [sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=180, check=True
    )
    lines = [line.strip() for line in result.stdout.splitlines() if " p50 " in line]
    # one line per server, each with its handler entered once per call it was sent
    assert [line.split()[0] for line in lines] == ["bare", "gateway", "quiet"], result.stdout
    assert all(line.endswith("n 4") for line in lines), result.stdout
