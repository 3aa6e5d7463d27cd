"""The load client as the parent drives it: every receiver process at once.

`Bench` is a run's state (flags, receiver handles, log directory, warnings). The functions
here open connections spread over the receivers, reset and collect their counters, wait
for frames to arrive, and turn CPU readings into figures (warning when the load client,
not the server, was the bottleneck).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from . import Metrics, peers
from .servers import Server, self_cpu

#: A receiver process at or above this share of one core was the bottleneck.
SATURATED = 0.85
#: The scenarios `--load-client auto` runs with the C load client (creceiver.py): the
#: per-user ones, where the Python receivers took ~0.8 of the 2 cores the server needs too.
C_BY_DEFAULT = ("peruser", "receipts")

T = TypeVar("T")


class Counter(Protocol):
    @property
    def value(self) -> int: ...


class Handle(Protocol):
    """One receiver process as the parent drives it (receiver.py's or creceiver.py's)."""

    index: int

    @property
    def counter(self) -> Counter:
        """Notification frames received since the last reset (written by the child)."""

    async def call(self, name: str, wait: float = 60.0, **kwargs: Any) -> Any: ...

    def stop(self) -> None: ...


@dataclass
class Bench:
    args: argparse.Namespace
    #: The receivers of the scenario running now (one of `pools`).
    receivers: list[Handle]
    log_dir: Path
    warnings: list[str] = field(default_factory=list)
    #: Each load client's receivers: "python", and "c" when some scenario runs it.
    pools: dict[str, list[Handle]] = field(default_factory=dict)
    #: Which load client `receivers` are.
    load_client: str = "python"

    def received(self) -> int:
        """Notification frames received by all receivers since their last reset."""
        return sum(int(r.counter.value) for r in self.receivers)

    def use(self, scenario: str) -> str:
        """The load client for `scenario` (`--load-client`) becomes `receivers`."""
        self.load_client = load_client_for(self.args, scenario, self.pools)
        self.receivers = self.pools[self.load_client]
        return self.load_client


def load_client_for(args: argparse.Namespace, scenario: str, pools: Any = ("python", "c")) -> str:
    """`--load-client` for one scenario: auto is C for C_BY_DEFAULT over WebSocket."""
    choice: str = getattr(args, "load_client", "python")
    if choice == "auto":
        wanted = scenario in C_BY_DEFAULT and args.transport == "ws"
        choice = "c" if wanted and "c" in pools else "python"
    return choice


def specs(prefix: str, count: int) -> list[tuple[str, str]]:
    """`count` connections (user_id, topics): users prefix0, prefix1, ..., no topics."""
    return [(f"{prefix}{i}", "") for i in range(count)]


def mismatches(counts: Sequence[int], expected: int | Sequence[int]) -> int:
    """How many connections received a count other than expected (one or per connection)."""
    if isinstance(expected, int):
        return sum(1 for c in counts if c != expected)
    return sum(1 for got, want in zip(counts, expected, strict=True) if got != want)


def _split(items: Sequence[T], parts: int) -> list[list[T]]:
    return [list(items[i::parts]) for i in range(parts)]


def _unsplit(parts: list[list[T]]) -> list[T]:
    """Inverse of `_split`: back to the original order."""
    out: list[T] = []
    for i in range(max((len(p) for p in parts), default=0)):
        out.extend(p[i] for p in parts if i < len(p))
    return out


async def call_all(bench: Bench, name: str, wait: float = 60.0, **kwargs: Any) -> list[Any]:
    """The same command to every receiver; their replies in order."""
    return await asyncio.gather(*(rx.call(name, wait=wait, **kwargs) for rx in bench.receivers))


async def connect(bench: Bench, server: Server, conns: list[tuple[str, str]]) -> dict[str, Any]:
    """Open every connection (spread over the receivers) and wait for each welcome."""
    budget = max(30.0, len(conns) / 300)
    parts = _split(conns, len(bench.receivers))
    replies = await asyncio.gather(
        *(
            rx.call(
                "connect",
                wait=budget + 30,
                port=server.http_port,
                specs=part,
                concurrency=bench.args.connect_concurrency,
                budget=budget,
                welcome=server.kind not in peers.NO_WELCOME,
                transport=bench.args.transport,
            )
            for rx, part in zip(bench.receivers, parts, strict=True)
        )
    )
    ok = sum(r["ok"] for r in replies)
    errors: dict[str, int] = {}
    for r in replies:
        for key, n in r["errors"].items():
            errors[key] = errors.get(key, 0) + n
    t0 = min(r["t0"] for r in replies)
    t1 = max(r["t1"] for r in replies)
    result = {"ok": ok, "failed": len(conns) - ok, "errors": errors, "seconds": t1 - t0}
    result["rate"] = ok / (t1 - t0) if t1 > t0 else 0.0
    result["load_busiest"] = max(r["cpu"] / max(r["t1"] - r["t0"], 1e-9) for r in replies)
    if ok < len(conns):
        print(f"    ! {len(conns) - ok} of {len(conns)} connections failed: {errors}", flush=True)
    if not ok:
        raise RuntimeError(f"no connection was established: {errors}")
    return result


async def close_all(bench: Bench) -> None:
    await call_all(bench, "close", wait=30)


@dataclass
class Mark:
    """CPU and wall clock at the start of a measurement."""

    wall: float
    server_cpu: float
    self_cpu: float
    server_kernel_cpu: float = 0.0


async def reset_receivers(bench: Bench, sample: int) -> None:
    """Zero every receiver's counters; read every `sample`-th frame from now on."""
    await call_all(bench, "reset", sample=sample)


async def reset(bench: Bench, server: Server, sample: int) -> Mark:
    """`reset_receivers`, then mark the start of a measurement."""
    await reset_receivers(bench, sample)
    return Mark(time.time(), server.cpu(), self_cpu(), server.kernel_cpu())


async def gather_report(bench: Bench) -> dict[str, Any]:
    """Every receiver's counters, merged (connection counts in connection order)."""
    replies = await call_all(bench, "report", wait=60)
    codes: dict[int, int] = {}
    for r in replies:
        for code, n in r["close_codes"].items():
            codes[code] = codes.get(code, 0) + n
    lat = sorted(itertools.chain.from_iterable(r["lat"] for r in replies))
    return {
        "counts": _unsplit([r["counts"] for r in replies]),
        "frames": sum(r["frames"] for r in replies),
        "first_rx": min((r["first_rx"] for r in replies if r["first_rx"]), default=0.0),
        "last_rx": max(r["last_rx"] for r in replies),
        "lat": lat,
        "order_errors": sum(r["order_errors"] for r in replies),
        "bad_samples": sum(r["bad_samples"] for r in replies),
        "unexpected_lost": sum(r["unexpected_lost"] for r in replies),
        "acks_sent": sum(r.get("acks_sent", 0) for r in replies),
        "close_codes": codes,
        "rx_cpu": [r["cpu"] for r in replies],
        "rx_sys": [r.get("sys", 0.0) for r in replies],
    }


def cpu_figures(
    bench: Bench, server: Server, mark: Mark, rep: dict[str, Any], wall: float, label: str
) -> Metrics:
    """CPU seconds of the server and of the load client over a measurement; warns if saturated."""
    server_cpu = server.cpu() - mark.server_cpu
    pub_cpu = self_cpu() - mark.self_cpu
    rx_cpu: list[float] = rep["rx_cpu"]
    frames = rep["frames"]
    wall = max(wall, 1e-9)
    busiest = max([*rx_cpu, pub_cpu]) / wall
    m: Metrics = {
        "window": [rep["last_rx"] - wall, rep["last_rx"]],  # wall clock: first send, last frame
        "wall_s": wall,
        "server_cpu_s": server_cpu,
        "server_sys_s": server.kernel_cpu() - mark.server_kernel_cpu,
        "load_cpu_s": sum(rx_cpu) + pub_cpu,
        "receiver_cpu_s": rx_cpu,
        "receiver_sys_s": rep.get("rx_sys", []),  # their kernel part
        # the load client's own cost per frame received (what the C client cuts)
        "receiver_cpu_us_per_frame": sum(rx_cpu) / frames * 1e6 if frames else None,
        "load_client": bench.load_client,
        "publisher_cpu_s": pub_cpu,
        "server_busy": server_cpu / wall,
        "load_busiest_proc": busiest,
    }
    m["load_saturated"] = busiest >= SATURATED and wall > 0.2
    if m["load_saturated"]:
        bench.warnings.append(
            f"{label}: the LOAD CLIENT was saturated (busiest load process at "
            f"{busiest:.0%} of a core; server at {server_cpu / wall:.0%}): this figure "
            "measures the client as much as the server"
        )
    return m


@dataclass
class Progress:
    """Watches the receivers' shared counters: done, or no progress for too long."""

    bench: Bench
    stall_after: float
    last: int = -1
    since: float = field(default_factory=time.monotonic)

    def stuck(self) -> bool:
        got = self.bench.received()
        now = time.monotonic()
        if got != self.last:
            self.last, self.since = got, now
            return False
        return now - self.since > self.stall_after


async def wait_received(bench: Bench, expected: int, deadline: float, stall_after: float) -> bool:
    """Until the receivers have `expected` notification frames; False on a stall or timeout."""
    progress = Progress(bench, stall_after)
    while True:
        if bench.received() >= expected:
            return True
        if progress.stuck() or time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
