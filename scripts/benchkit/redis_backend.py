"""The Redis side of `--backend`: a key prefix per run, Redis CPU read from INFO, the ratio.

Each "redis" run gets its own key prefix (so runs never read each other's streams) and its
keys are deleted afterwards. Redis CPU is `used_cpu_user + used_cpu_sys` from `INFO cpu`
before and after the scenario, divided by the notifications it published.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import redis

from . import Metrics
from .figures import FIGURE_LINES, get

_runs = itertools.count()

#: Notifications each scenario publishes (for Redis CPU per notification).
_PUBLISHED = {
    "broadcast": "notifications",
    "peruser": "user_notifications",
    "slow": "slow_notifications",
}


def new_prefix() -> str:
    return f"bench{os.getpid()}r{next(_runs)}"


def cpu_seconds(url: str) -> float:
    with redis.Redis.from_url(url, socket_timeout=5) as client:
        info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def forget(url: str, prefix: str) -> None:
    """Delete a run's keys (idempotency keys expire on their own)."""
    with redis.Redis.from_url(url, socket_timeout=5) as client:
        client.delete(f"{prefix}:log", f"{prefix}:seq", f"{prefix}:epoch")


def record_cpu(metrics: Metrics, name: str, args: Any, spent: float) -> None:
    metrics["redis_cpu_s"] = spent
    count_flag = _PUBLISHED.get(name)
    if count_flag:
        metrics["redis_cpu_us_per_notification"] = spent / getattr(args, count_flag) * 1e6


def compare(name: str, results: dict[str, Any]) -> dict[str, Any] | None:
    """The Redis run's headline figure as a share of the memory backend's, and Redis CPU."""
    memory, shared = results.get("gateway"), results.get("redis")
    if not memory or not shared:
        return None
    label, path, _ = FIGURE_LINES[name][0]
    ours, theirs = get(shared, path), get(memory, path)
    ratio = ours / theirs if isinstance(ours, int | float) and theirs else None
    line = {"figure": label, "memory": theirs, "redis": ours, "ratio": ratio}
    line["redis_cpu_us_per_notification"] = get(shared, "redis_cpu_us_per_notification")
    shown = "n/a" if ratio is None else f"{ratio:.0%}"
    cpu = line["redis_cpu_us_per_notification"]
    cpu_text = "" if cpu is None else f"; Redis CPU {cpu:.1f} µs per notification"
    print(f"  redis vs memory: {label} {shown} of the memory backend's{cpu_text}", flush=True)
    return line


def compare_workers(name: str, results: dict[str, Any]) -> dict[str, Any] | None:
    """`--workers 2` against one process, both on Redis in this run: the headline figure's
    ratio, with the load client's share of the host's cores (it shares them: a ratio
    measured while it saturates them says as much about the client as the gateway)."""
    one, two = results.get("redis"), results.get("workers2")
    if not one or not two:
        return None
    label, path, _ = FIGURE_LINES[name][0]
    ours, theirs = get(two, path), get(one, path)
    ratio = ours / theirs if isinstance(ours, int | float) and theirs else None
    cores = os.cpu_count() or 1
    share = {}
    for kind, metrics in (("1", one), ("2", two)):
        load, wall = get(metrics, "cpu.load_cpu_s"), get(metrics, "cpu.wall_s")
        ok = isinstance(load, int | float) and isinstance(wall, int | float) and wall
        share[kind] = load / wall / cores if ok else None
    line = {"figure": label, "workers1": theirs, "workers2": ours, "ratio": ratio}
    line["load_client_core_share"] = share
    shown = "n/a" if ratio is None else f"{ratio:.2f}x"
    client = ", ".join(f"{k} worker(s): {v:.0%}" for k, v in share.items() if isinstance(v, float))
    print(
        f"  2 workers vs 1 (Redis): {label} {shown}; load client's share of the "
        f"{cores} cores: {client or 'n/a'}",
        flush=True,
    )
    return line
