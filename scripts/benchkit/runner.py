"""Runs one scenario against every server, `--repeat` times, and keeps each run's metrics.

A run starts its server, runs the scenario, closes the connections, stops the server and
scans its log; anything that went wrong becomes a warning rather than an exception.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from typing import Any

from . import ROOT, Metrics, peers, redis_backend, versus
from .load import C_BY_DEFAULT, Bench, call_all, close_all
from .report import print_scenario_line
from .scenarios import BY_NAME, receipts
from .servers import server_log_issues, start_server, stop_server
from .stats import combine


async def run_scenario(bench: Bench, name: str) -> dict[str, Any]:
    """Every server, `--repeat` times (alternating); the figures are the runs' medians."""
    client = bench.use(name)
    if client == "c":  # the nap adds up to itself to each frame's latency: rates only
        await call_all(bench, "nap", us=bench.args.c_nap_us if name in C_BY_DEFAULT else 0)
    print(f"\n== {BY_NAME[name].title(bench.args)} (load client: {client}) ==", flush=True)
    kinds = [k for k in bench.args.servers if k not in peers.PEERS or name in peers.PEER_SCENARIOS]
    if name != "receipts":  # receipts0 is the receipts scenario's sparse worst case only
        kinds = [k for k in kinds if k != "receipts0"]
    runs: dict[str, list[Metrics]] = {kind: [] for kind in kinds}
    for _ in range(bench.args.repeat):
        for kind in kinds:  # alternating: each server once per round
            runs[kind].append(await run_once(bench, name, kind))
    results: dict[str, Any] = {kind: combine(ms) for kind, ms in runs.items()}
    if bench.args.repeat > 1:
        for kind in kinds:
            print_scenario_line(name, f"{kind} (median of {bench.args.repeat})", results[kind])
        results["runs"] = runs
    compared = redis_backend.compare(name, results)
    if compared is not None:
        results["redis_vs_memory"] = compared
    workers = redis_backend.compare_workers(name, results)
    if workers is not None:  # issue 15: --workers 2 vs one process, both on Redis
        results["workers2_vs_1"] = workers
    # this tree against another checkout (`--tree`), tracing on against off (`--traced-env`)
    for ours, theirs in (("gateway", "tree"), ("traced", "gateway")):
        compared = versus.compare(name, results, runs, ours, theirs)
        if compared is not None:
            results[f"{ours}_vs_{theirs}"] = compared
    if name == "receipts":  # receipts on (acking) vs off, this run: every ack charged
        compared = receipts.compare(results, runs)
        if compared is not None:
            results["receipts_vs_off"] = compared
    off = results.get("gateway")
    typed = results.get("types")
    if name == "types" and typed and off:  # the type registry (issue 16) vs none, this run
        ratio = _share(typed.get("notifications_per_s"), off.get("notifications_per_s"))
        results["types_vs_none"] = {"ratio": ratio, "target": 0.9}
        shown = "n/a" if ratio is None else f"{ratio:.2f}x"
        print(f"  50 types, strict, vs no registry: {shown} (target >= 0.9x)")
    return results


def _share(ours: Any, theirs: Any) -> float | None:
    if isinstance(ours, int | float) and isinstance(theirs, int | float) and theirs:
        return float(ours / theirs)
    return None


async def run_once(bench: Bench, name: str, kind: str) -> Metrics:
    t0 = time.monotonic()
    a = bench.args
    py_spy_out = a.py_spy / f"{name}-{kind}.txt" if a.py_spy else None
    gateway_args = list(a.gateway_arg)
    prefix = ""
    if kind in ("redis", "workers2"):
        prefix = redis_backend.new_prefix()
        gateway_args += ["--backend", a.backend, "--redis-prefix", prefix]
    if kind == "workers2":  # issue 15: two processes on the same ports
        gateway_args += ["--workers", "2"]
    try:
        server = await start_server(
            kind,
            bench.log_dir / f"{name}-{kind}.log",
            gateway_args,
            py_spy_out,
            scenario=name,
            cwd=a.tree if kind == "tree" else ROOT,
            env=a.traced_env if kind == "traced" else None,
        )
    except Exception as exc:
        print(f"  {kind}: did not start: {exc}", flush=True)
        return {"error": f"did not start: {exc}"}
    print(
        f"  {kind}: pid {server.pid}, http {server.http_port}, grpc {server.grpc_port}",
        flush=True,
    )
    try:
        redis_cpu = redis_backend.cpu_seconds(a.backend) if prefix else 0.0
        metrics = await BY_NAME[name].run(bench, server)
        if prefix:
            spent = redis_backend.cpu_seconds(a.backend) - redis_cpu
            redis_backend.record_cpu(metrics, name, a, spent)
        await close_all(bench)
    except Exception as exc:
        traceback.print_exc()
        metrics = {"error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(Exception):
            await close_all(bench)
    metrics["server_alive"] = server.proc.returncode is None
    await stop_server(server)
    if prefix:
        with contextlib.suppress(Exception):
            redis_backend.forget(a.backend, prefix)
    metrics["server_log"] = server_log_issues(server)
    if not metrics["server_alive"]:
        bench.warnings.append(
            f"{name}/{kind}: the server DIED during the run (see {server.log_path})"
        )
    if metrics["server_log"]["error_lines"]:
        bench.warnings.append(
            f"{name}/{kind}: {metrics['server_log']['error_lines']} error lines in "
            f"{server.log_path}: {metrics['server_log']['first_error'][:300]}"
        )
    metrics["seconds"] = time.monotonic() - t0
    print_scenario_line(name, kind, metrics)
    return metrics
