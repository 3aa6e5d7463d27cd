"""The JS client (clients/js): its build, its type-level tests, and its `node --test` suites,
which drive a real gateway (tests/support/js_control.py) over real WebSockets.

Needs Node >= 20 and `npm ci` in clients/js (./scripts/test and .ci/run do it), and
redis-server for the suite on two replicas (.ci/run installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.helpers import ROOT

JS = ROOT / "clients/js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Runs a command in clients/js; fails the test with its output when it fails."""
    result = subprocess.run(
        args,
        cwd=JS,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{output[-6000:]}"
    return output


@pytest.fixture(scope="module")
def built() -> Path:
    """clients/js/dist built from the current sources (what the node tests import)."""
    tsc = JS / "node_modules/.bin/tsc"
    assert tsc.exists(), "run `npm ci` in clients/js (./scripts/test does it)"
    _run(str(tsc), "-p", "tsconfig.json")
    return JS / "dist"


def test_committed_client_js_is_exactly_the_build(built: Path) -> None:
    # Bundles the fresh dist/ as `npm run build` does and compares with the committed file.
    _run(NODE or "node", "scripts/sync-browser.mjs", "--check")


def test_notification_types_narrow_and_wrong_fields_fail_to_compile(built: Path) -> None:
    # test/types.test.ts: each `@ts-expect-error` must meet an error, or tsc fails.
    _run(str(JS / "node_modules/.bin/tsc"), "-p", "test/tsconfig.json")


def _node_test(*files: str, env: dict[str, str] | None = None, pattern: str | None = None) -> str:
    args = [NODE or "node", "--experimental-websocket", "--test", "--test-reporter=tap"]
    if pattern:
        args.append(f"--test-name-pattern={pattern}")
    run_env = {"GATEWAY_PYTHON": sys.executable, "GATEWAY_ROOT": str(ROOT), **(env or {})}
    output = _run(*args, *files, env=run_env)
    assert "# fail 0" in output, output[-6000:]
    return output


def test_client_logic_against_a_real_gateway(built: Path) -> None:
    output = _node_test("test/client.test.mjs", "test/resume.test.mjs", "test/token.test.mjs")
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) >= 20, output[-3000:]


def test_client_over_sse_and_auto_behind_a_proxy_that_strips_upgrade(built: Path) -> None:
    # test/sse.test.mjs: transport "sse" end to end, and "auto" falling back to SSE behind
    # tests/support/netproxy.py's strip_upgrade proxy (and staying on WebSocket without it),
    # then trying WebSocket again `retryWebSocket` ms later.
    output = _node_test("test/sse.test.mjs")
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) >= 7, output[-3000:]


def test_client_acks_by_itself_and_marks_read_against_a_real_gateway(built: Path) -> None:
    # test/receipts.test.mjs (issue 17): coalesced acks turn a notification `delivered` at the
    # gateway, `ackEvery`, markRead and `acks: false`, and what was owed when the socket
    # dropped is acked on the next connection after its replay.
    output = _node_test("test/receipts.test.mjs")
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) >= 4, output[-3000:]
