"""`perf` on the server under test over a measured window (`--perf DIR`): what its CPU went
to in the real running process, beyond the instructions callgrind counts.

`perf stat` counts, per thread, the CPU time (task-clock), context switches (a thread that
blocks, e.g. the event loop waiting in epoll, switches out: its wake-ups), every system call
entered, and the ones a WebSocket server's reads, writes and waits are made of; `--perf-record`
also samples call stacks (`perf record -g`, 999 Hz) into DIR for `perf report` (kernel vs
user: `perf report --sort dso`). Both attach to the threads the server has when the window
opens (the gateway starts its gRPC threads at startup) and stop with SIGINT when it ends.
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import Metrics

#: The system calls counted one by one (the rest are in `raw_syscalls:sys_enter`).
SYSCALLS = (
    "read",
    "recvfrom",
    "recvmsg",
    "write",
    "writev",
    "sendto",
    "sendmsg",
    "epoll_wait",
    "epoll_pwait",
    "futex",
)
EVENTS = (
    "task-clock",
    "context-switches",
    "raw_syscalls:sys_enter",
    *(f"syscalls:sys_enter_{name}" for name in SYSCALLS),
)


@dataclass
class Watch:
    stat: subprocess.Popen[bytes]
    stat_out: Path
    record: subprocess.Popen[bytes] | None


def start(pid: int, out_dir: Path, label: str, record: bool) -> Watch:
    """`perf stat` (and with `record`, `perf record -g`) on `pid`'s threads from now on."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stat_out = out_dir / f"{label}.stat.csv"
    cmd = ["perf", "stat", "--per-thread", "-x", ",", "-o", str(stat_out)]
    cmd += ["-e", ",".join(EVENTS), "-p", str(pid)]
    stat = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rec = None
    if record:
        cmd = ["perf", "record", "-g", "-F", "999", "-o", str(out_dir / f"{label}.perf.data")]
        cmd += ["-p", str(pid)]
        rec = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Watch(stat, stat_out, rec)


def stop(watch: Watch, notifications: int) -> Metrics:
    """Stop both; the counts summed over threads, the busiest thread's apart, and per
    notification."""
    for proc in (watch.stat, watch.record):
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return summarize(parse(watch.stat_out.read_text()), notifications)


def parse(text: str) -> dict[str, dict[str, float]]:
    """`perf stat --per-thread -x ,` output: {thread ("comm-tid"): {event: count}}."""
    threads: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) < 4 or line.startswith("#"):
            continue
        try:
            count = float(fields[1])
        except ValueError:  # "<not counted>", "<not supported>"
            continue
        event = fields[3].removeprefix("syscalls:sys_enter_").removeprefix("raw_syscalls:")
        threads.setdefault(fields[0].strip(), {})[event] = count
    return threads


def summarize(threads: dict[str, dict[str, float]], notifications: int) -> Metrics:
    """Totals over threads and the busiest thread's (the event loop), each also per
    notification; task-clock in ms."""
    events = sorted({event for counts in threads.values() for event in counts})
    total = {event: sum(c.get(event, 0.0) for c in threads.values()) for event in events}
    busiest = max(threads, key=lambda t: threads[t].get("task-clock", 0.0), default="")
    main = threads.get(busiest, {})
    n = max(notifications, 1)
    return {
        "total": total,
        "per_n": {event: count / n for event, count in total.items()},
        "main_thread": busiest,
        "main": main,
        "main_per_n": {event: count / n for event, count in main.items()},
        "threads": len(threads),
    }
