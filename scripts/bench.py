"""Benchmark: the gateway against a naive aiohttp broadcast loop, side by side in one run.

Every figure is measured twice in the same run, once against the gateway
(`python -m gateway` in a subprocess) and once against the BASELINE (benchkit/baseline.py):
a plain aiohttp server with the same `/ws?user_id=&topics=` URL and a gRPC server for the
same `Publish`/`PublishBatch` (the generated code in gateway/api/v1), which on each publish
does `for ws in clients: await ws.send_str(payload)`. Both pay the same gRPC hop; both run
on uvloop when it is installed. The baseline validates nothing.

Scenarios (each scaled by flags; `--quick` runs all of them small in under a minute):
  broadcast  N subscribers, K notifications to everyone (PublishBatch) → deliveries/s, p50/p99
  unary1     the same published like a backend: unary Publish, 1 call in flight
  unary32    ... 32 calls in flight (each lane waits for its ack)
  unaryprocs ... from --unary-procs publisher processes, --unary-lanes calls in flight each;
             all three also report publishes per flush (the gateway's /metrics)
  steady     N subscribers, R notifications/s for S seconds (unary Publish) → p50/p99/max
  peruser    U users, K notifications each to one user (PublishBatch) → notifications/s
  idle       C connections held → server RSS per connection, connections/s
  slow       C clients, one stops reading, a stream of broadcasts → the others' throughput,
             whether the stalled one is closed with 4008, server RSS growth
  receipts   U users, K notifications each to one user, receipts on and every client
             acking vs off (and every notification acked: receipts0) → delivered/s charged
             with every ack, server CPU per notification, ack frames per notification

Before the scenarios, the kernel floor (`--floor-sockets`, no server involved): a raw
non-blocking send() loop over N loopback sockets drained by another process, 40 rounds;
one round's median/p99 is what no single-threaded server can beat for one fan-out, and
N / median the send() calls per second one core can make.

The load client runs in separate processes (`--procs`, uvloop when available): a raw
asyncio Protocol that does the upgrade handshake itself, parses only frame headers, and
reads a timestamp and sequence number out of every `--sample`-th frame. In peruser and
receipts the same client written in C (benchkit/crecv*.c, `--load-client`) runs instead,
at a fraction of the CPU the server would otherwise lose to it. The publisher
keeps at most `--window` notifications in flight (published but not yet received by every
client), so a load client slower than the server shows up as a lower rate, not as clients
closed for being slow. Latency is time.time() at publish (embedded in the data) to
time.time() when the frame is read, gRPC hop included; at saturation it measures the
window's queueing delay too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The modules live in benchkit/ beside this file; found even under `python -P`.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# Only light imports up here: every spawned load-client process re-imports this file.
# The rest (grpc, aiohttp, the generated code) is imported in main_async / main.
from benchkit.options import DEFAULT_SERVERS, SCENARIOS, SERVERS, SIZES  # noqa: E402

if TYPE_CHECKING:
    from benchkit.load import Handle


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--quick", action="store_true", help="everything small (< 1 minute)")
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("bench-results.json"),
        help="write the results here (default bench-results.json)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="JSON",
        help="only draw the plots of an earlier run's results file (a run draws its own)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--servers",
        default=",".join(DEFAULT_SERVERS),
        help=f"comma-separated subset of {','.join(SERVERS)}; node, nchan and pushpin are "
        "the peers, left out with a note when not installed",
    )
    parser.add_argument(
        "--backend",
        default=None,
        metavar="URL",
        help="also run each scenario on the gateway with this Redis backend (redis://...), "
        "beside the memory backend; reports the ratio and Redis CPU per notification",
    )
    parser.add_argument(
        "--gateway-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra flag for `python -m gateway` (repeat), "
        "e.g. --gateway-arg=--send-buffer-bytes=4194304",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="record each gateway run (every kind) with py-spy into DIR/<scenario>-<kind>.txt",
    )
    parser.add_argument(
        "--perf",
        type=Path,
        default=None,
        metavar="DIR",
        help="receipts: `perf stat` each server over its measured window (per thread: CPU, "
        "context switches, system calls; benchkit/perfwatch.py), into DIR and the JSON",
    )
    parser.add_argument(
        "--perf-record",
        action="store_true",
        help="with --perf: also `perf record -g` the window into DIR (perf report --sort dso)",
    )
    parser.add_argument(
        "--transport",
        choices=("ws", "sse"),
        default="ws",
        help="how the load client's subscribers connect to the gateway: WebSocket (/ws) or "
        "Server-Sent Events (/sse); the baseline speaks WebSocket only (default ws)",
    )
    parser.add_argument(
        "--load-client",
        choices=("auto", "c", "python"),
        default="auto",
        help="the receivers: c (benchkit/crecv*.c, built with cc on first use; WebSocket "
        "only) or python (asyncio processes); auto is c for peruser and receipts, where the "
        "Python receivers' CPU competed with the server for the 2 cores, else python",
    )
    parser.add_argument(
        "--tree",
        type=Path,
        default=None,
        metavar="DIR",
        help="server `tree`: `python -m gateway` run from another checkout DIR (e.g. the code "
        "before a change), compared with this tree's in the same run (adds `tree` to --servers)",
    )
    parser.add_argument(
        "--traced-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="server `traced`: this tree's gateway with these variables too (repeat; e.g. "
        "OTEL_TRACES_EXPORTER=otlp), compared with `gateway` in the same run (adds `traced`)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the server logs")
    parser.add_argument(
        "--idle-hold",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="idle: hold the connections this long after measuring (to inspect the server)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each scenario N times, alternating servers; report medians (default 1)",
    )
    for name, (full, quick, text) in SIZES.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=type(full),
            default=None,
            help=f"{text} (default {full}; quick {quick})",
        )
    parser.add_argument(
        "--floor-sockets",
        type=int,
        default=None,
        metavar="N",
        help="kernel floor: sockets in one raw send() fan-out (default: --steady-subscribers; "
        "0 = skip)",
    )
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--http-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--grpc-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, (full, quick, _) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.floor_sockets is None:
        args.floor_sockets = args.steady_subscribers
    args.floor_sockets = max(0, args.floor_sockets)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in args.scenarios:
        if s not in SCENARIOS:
            parser.error(f"unknown scenario {s!r}; choose from {', '.join(SCENARIOS)}")
    from benchkit import peers  # light: no gRPC server, no aiohttp app

    for kind in [s for s in args.servers if s in peers.PEERS]:
        reason = peers.missing(kind)
        if reason is not None:
            print(f"bench: {kind} is left out: {reason}", file=sys.stderr)
            args.servers.remove(kind)
    wanted = "receipts" in args.scenarios and "receipts" in args.servers
    if wanted and "receipts0" not in args.servers:  # the receipts scenario's sparse worst case
        args.servers.append("receipts0")
    if args.backend and "redis" not in args.servers:
        args.servers.append("redis")
    if args.tree is not None:
        args.tree = args.tree.resolve()
        if not (args.tree / "gateway" / "__main__.py").is_file():
            parser.error(f"--tree {args.tree}: no gateway/__main__.py there")
        built = list((args.tree / "gateway").glob("_speedups*.so"))
        if (args.tree / "gateway" / "csrc").is_dir() and not built:
            parser.error(
                f"--tree {args.tree}: its C extension (gateway/csrc) is not built there, so it "
                "would run its Python fallbacks; build it in place first: cd DIR && python -c "
                "'from setuptools import setup; setup()' build_ext --inplace"
            )
        if "tree" not in args.servers:
            args.servers.append("tree")
    elif "tree" in args.servers:
        parser.error("the tree server needs --tree DIR")
    bad = [item for item in args.traced_env if "=" not in item or item.startswith("=")]
    if bad:
        parser.error(f"--traced-env takes NAME=VALUE, not {bad[0]!r}")
    args.traced_env = dict(item.split("=", 1) for item in args.traced_env)
    if args.traced_env and "traced" not in args.servers:
        args.servers.append("traced")
    elif "traced" in args.servers and not args.traced_env:
        parser.error("the traced server needs --traced-env NAME=VALUE (the variables it adds)")
    if args.load_client == "c" and args.transport != "ws":
        parser.error("--load-client c speaks WebSocket only (--transport ws)")
    for s in args.servers:
        if s not in SERVERS:
            parser.error(f"unknown server {s!r}; choose from {', '.join(SERVERS)}")
    if "redis" in args.servers and not (args.backend or "").startswith(("redis://", "rediss://")):
        parser.error("the redis server needs --backend redis://host:port/db")
    if not 1 <= args.user_batch <= 1000 or not 1 <= args.batch <= 1000:
        parser.error("batches hold 1 to 1000 items")
    args.lanes = max(1, args.lanes)
    args.repeat = max(1, args.repeat)
    args.procs = max(1, args.procs)
    return args


async def main_async(args: argparse.Namespace) -> int:
    from benchkit import floor, uvloop_factory
    from benchkit.environment import meta, raise_nofile
    from benchkit.load import Bench, load_client_for
    from benchkit.peer_report import peer_rows, print_peer_table
    from benchkit.plots import draw
    from benchkit.receiver import ReceiverHandle
    from benchkit.report import print_summary, print_warnings, summary, write_json
    from benchkit.runner import run_scenario

    warnings: list[str] = []
    raise_nofile(warnings, args)
    if args.py_spy is not None:
        if shutil.which("py-spy") is None:
            print("--py-spy: py-spy is not on PATH (pip install py-spy)", file=sys.stderr)
            return 2
        args.py_spy.mkdir(parents=True, exist_ok=True)
    if args.perf is not None and shutil.which("perf") is None:
        print("--perf: perf is not on PATH", file=sys.stderr)
        return 2
    if uvloop_factory() is None:
        warnings.append("uvloop is not installed: the load client runs on the default loop")
    info = meta(args)
    log_dir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    print(
        f"bench: {info['cpus']} CPUs, load average {info['loadavg_at_start'][0]:.2f}, "
        f"uvloop {info['uvloop']}, {args.procs} receiver processes, logs in {log_dir}",
        flush=True,
    )
    t0 = time.monotonic()
    # Before the receivers start, so that nothing else runs while it is measured.
    floor_metrics = (
        floor.run(args.floor_sockets, args.payload_bytes, warnings) if args.floor_sockets else None
    )
    ctx = mp.get_context("spawn")  # never fork a process that has started gRPC threads
    pools: dict[str, list[Handle]] = {}
    pools["python"] = [ReceiverHandle(ctx, i) for i in range(args.procs)]
    if any(load_client_for(args, name) == "c" for name in args.scenarios):
        c_pool = c_receivers(args, warnings)
        if c_pool is None:
            return 2
        if c_pool:
            pools["c"] = c_pool
    bench = Bench(args, pools["python"], log_dir, warnings, pools)
    results: dict[str, dict[str, Any]] = {}
    try:
        for name in args.scenarios:
            results[name] = await run_scenario(bench, name)
    finally:
        for rx in itertools.chain.from_iterable(pools.values()):
            with contextlib.suppress(Exception):
                await rx.call("exit", wait=10)
            rx.stop()
    rows = summary(args, results, floor_metrics)
    print_summary(rows)
    peers_side_by_side = peer_rows(results)
    print_peer_table(peers_side_by_side)
    print_warnings(bench.warnings)
    print(f"\ntotal {time.monotonic() - t0:.0f}s; results in {args.json}")
    write_json(
        args.json,
        {
            "meta": info,
            "warnings": bench.warnings,
            "summary": rows,
            "peers": peers_side_by_side,
            "floor": floor_metrics,
            "scenarios": results,
        },
    )
    draw(args.json)
    if not args.keep_logs:
        shutil.rmtree(log_dir, ignore_errors=True)
    failed = any(r["pass"] is False for r in rows)
    return 1 if failed else 0


def c_receivers(args: argparse.Namespace, warnings: list[str]) -> list[Handle] | None:
    """The C load client's receivers, built now if needed: [] (auto falls back to Python,
    with a warning) or None (asked for explicitly, it cannot be built) when it fails."""
    from benchkit.creceiver import CReceiverHandle, build

    try:
        binary = build()
    except (OSError, RuntimeError) as exc:
        if args.load_client == "c":
            print(f"bench: --load-client c: {exc}", file=sys.stderr)
            return None
        warnings.append(f"the C load client could not be built, Python receivers ran: {exc}")
        return []
    return [CReceiverHandle(i, binary) for i in range(args.procs)]


def main() -> int:
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # no gRPC core INFO lines in the table
    args = parse_args()
    if args.plot is not None:
        from benchkit.plots import draw

        return draw(args.plot)
    if args.serve_baseline:
        from benchkit.baseline import baseline_serve

        baseline_serve(args.http_port, args.grpc_port)
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
