"""What the type registry costs per notification: one `TypeRegistry.check` of a full
`bench.event` (12 properties, a nested array of 3 objects, 3 formats) among 50 types in
strict mode, in µs (median) and in instructions (callgrind, the difference between N checks
and none, divided by N: repeatable where timings on a shared machine are not).

Run: `python -m scripts.benchkit.types_cost` (add `--no-callgrind` without valgrind).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

from gateway.models import PublishInput, PublishItem, accepted
from gateway.types import TypeRegistry, load_registry

from .type_registry import FULL_EVENT, write_registry


def _setup(mode: str = "strict") -> tuple[TypeRegistry, PublishItem]:
    registry = TypeRegistry(load_registry(write_registry()), mode)  # type: ignore[arg-type]
    item = accepted(
        PublishInput.model_validate(
            {
                "target": {"kind": "users", "user_ids": ["u1"]},
                "notification": {
                    "id": "n1",
                    "type": "bench.event",
                    "data": FULL_EVENT,
                    "created_at": datetime.now(UTC),
                },
            }
        )
    )
    assert registry.check(item) is None, registry.check(item)
    return registry, item


def _median_us(mode: str, rounds: int = 9, number: int = 20_000) -> float:
    registry, item = _setup(mode)
    check = registry.check
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(number):
            check(item)
        samples.append((time.perf_counter() - started) / number * 1e6)
    return statistics.median(samples)


def _instructions(count: int) -> int:
    """Instructions callgrind counts for a process that sets up and checks `count` times."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "scripts.benchkit.types_cost",
        "--inner",
        str(count),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=900)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total in: {done.stderr[-500:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-callgrind", action="store_true")
    parser.add_argument("--inner", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner is not None:  # the process callgrind counts
        registry, item = _setup()
        for _ in range(args.inner):
            registry.check(item)
        return
    strict = _median_us("strict")
    off = _median_us("off")
    print(f"check, strict, full bench.event: {strict:.2f} µs (mode off: {off:.3f} µs)")
    if args.no_callgrind or shutil.which("valgrind") is None:
        return
    n = 2000
    per = (_instructions(n) - _instructions(0)) / n
    print(f"check, strict, full bench.event: {per:,.0f} instructions (callgrind, {n} checks)")


if __name__ == "__main__":
    main()
