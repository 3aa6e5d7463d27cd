"""The pieces of scripts/bench (the entry point), one job per module.

Shared here: the loopback address, the repository root, the entry script (the baseline
server runs as `bench.py --serve-baseline`), the metrics type, the uvloop loop factory.

  options      the flags' names, full and --quick defaults, help texts
  environment  open-files limit, run metadata
  floor        the kernel floor: one fan-out of raw send() calls over loopback sockets
  payload      the data every notification carries (timestamp, lane, sequence, padding)
  wsclient     one lean WebSocket connection of the load client, and its tally
  receiver     a load-client process (command loop) and the parent's handle on it
  creceiver    the C load client (crecv*.c, built on first use): the same commands, a
               fraction of the CPU; the per-user scenarios' default (--load-client)
  load         the parent's side of the load client: connect, reset, report, wait, CPU
  publish      publishing over gRPC: the plan, batches or unary calls with a window, warm-up
  publishers   several publisher processes sending unary calls (a shared window)
  baseline     the naive aiohttp + gRPC server the gateway is compared with
  servers      starting, probing and stopping the servers under test; RSS and CPU
  scenarios/   the scenarios, one module each (unary.py holds the three unary ones)
  runner       each scenario against each server, repeated; medians
  versus       two builds of the gateway in one run (another checkout, tracing on)
  stats        percentiles, rates, the median of several runs
  figures      which figures the summary shows, and their targets
  report       per-run lines, the summary table, the JSON file
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: The entry point; the baseline server is this file run with --serve-baseline.
ENTRY = ROOT / "scripts" / "bench.py"
HOST = "127.0.0.1"

Metrics = dict[str, Any]


def uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None when uvloop is not installed."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
