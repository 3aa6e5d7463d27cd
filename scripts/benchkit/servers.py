"""The servers under test as subprocesses: start, probe until ready, stop; RSS and CPU readings.

"gateway" is `python -m gateway`; "baseline" is the entry script with --serve-baseline.
Each writes its output to a log file, which is scanned afterwards for errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpc import aio

from . import ENTRY, HOST, ROOT, peers
from .options import GATEWAYS, RECEIPTS
from .type_registry import write_registry


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def proc_status_kib(pid: int, key: str = "VmRSS") -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{key}:\s+(\d+)", text, re.M)
    return int(match.group(1)) if match else 0


def proc_cpu_seconds(pid: int, kernel_only: bool = False) -> float:
    """CPU seconds of `pid`, user and system (or system alone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    ticks = int(fields[12]) if kernel_only else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    """CPU seconds of this process (the publisher), user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Server:
    kind: str
    proc: asyncio.subprocess.Process
    http_port: int
    grpc_port: int
    log_path: Path
    profiler: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kib(self) -> int:
        """Resident memory of the server and its children (nginx's worker, ...)."""
        return sum(proc_status_kib(pid) for pid in process_tree(self.pid))

    def cpu(self) -> float:
        """CPU seconds of the server and its children (from /proc)."""
        return sum(proc_cpu_seconds(pid) for pid in process_tree(self.pid))

    def kernel_cpu(self) -> float:
        """The part of `cpu()` spent in the kernel (on loopback it includes, in a sender's
        context, the receiving side's TCP work: the clients' acks arrive at its expense)."""
        return sum(proc_cpu_seconds(pid, kernel_only=True) for pid in process_tree(self.pid))


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (from /proc/<pid>/task/*/children)."""
    pids = [pid]
    for each in pids:  # grows while it is walked: breadth first
        for task in Path(f"/proc/{each}/task").glob("*/children"):
            try:
                pids += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return pids


async def start_server(
    kind: str,
    log_path: Path,
    gateway_args: list[str],
    py_spy_out: Path | None,
    scenario: str = "",
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
) -> Server:
    """Start `kind` on free ports, logging to `log_path`; return once it serves both ports.

    With `py_spy_out`, a gateway of any kind is recorded by py-spy into that file. A peer is set up
    for `scenario` (nchan: per-user channels, or the one broadcast channel). A gateway runs
    from `cwd` (`python -m` imports the `gateway` package found there first: another
    checkout runs its own code) with `env` added to this process's environment.
    """
    http_port, grpc_port = free_port(), free_port()
    if kind in GATEWAYS:  # gateway_args: backend
        cmd = [sys.executable, "-m", "gateway", "--http-port", str(http_port)]
        cmd += ["--grpc-port", str(grpc_port), "--log-level", "WARNING", "--grace-seconds", "1"]
        cmd += gateway_args
        if kind in RECEIPTS:
            cmd.append("--receipts")
        if kind == "types":  # the type registry (issue 16): 50 types, strict
            cmd += ["--types", str(write_registry()), "--types-mode", "strict"]
    elif kind in peers.PEERS:  # no gRPC port: each is published to the way its users do
        grpc_port = 0
        cmd = peers.prepare(kind, http_port, log_path.with_suffix(".d"), scenario)
    else:
        cmd = [sys.executable, str(ENTRY), "--serve-baseline"]
        cmd += ["--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            cwd=cwd if kind in GATEWAYS else ROOT,
            env={**os.environ, **env} if env else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(kind, proc, http_port, grpc_port, log_path)
    try:
        await _wait_ready(server, within=30.0)
    except BaseException:
        await stop_server(server)
        raise
    if py_spy_out is not None and kind in GATEWAYS:
        server.profiler = _start_py_spy(server.pid, py_spy_out)
    return server


def _start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    cmd = ["py-spy", "record", "--pid", str(pid), "--rate", "200", "--format", "raw"]
    cmd += os.environ.get("BENCH_PY_SPY_FLAGS", "").split()
    cmd += ["--output", str(out), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


#: `workers2`: its workers, each with a listening socket of its own on the shared port
#: once it has started; the kernel hands each new connection to one of them by a hash of
#: its ports.
_WORKERS = {"workers2": 2}
#: /readyz answers in a row that count as every listening worker ready (two workers: the
#: chance that 16 probes all reach the ready one while the other is not is 1 in 65,536).
_READY_IN_A_ROW = 16


async def _wait_ready(server: Server, within: float) -> None:
    """Ready: /readyz (the Redis-backed kinds: their follower reached Redis, before which
    they refuse WebSockets with 503) or /healthz answers 200. For `workers2` every worker
    must be ready, not just the first one up (seen: a run whose other worker started
    listening later, its follower not yet live, refused 96 of 10,000 connects): first
    every worker listens (its own socket on the port, in /proc/net/tcp), then /readyz
    answers 200 `_READY_IN_A_ROW` times in a row."""
    deadline = time.monotonic() + within
    workers = _WORKERS.get(server.kind, 1)
    path = b"/readyz" if server.kind in ("redis", "workers2") else b"/healthz"
    in_a_row = 0
    while True:
        if server.proc.returncode is not None:
            tail = server.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{server.kind} exited with {server.proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{server.kind} not ready after {within:.0f}s")
        try:
            if workers > 1 and _listening(server.http_port) < workers:
                pass
            elif (await _get(server.http_port, path)).startswith(b"HTTP/1.1 200 "):
                in_a_row += 1
                if in_a_row >= (_READY_IN_A_ROW if workers > 1 else 1):
                    break
                continue
        except (OSError, TimeoutError):
            pass
        in_a_row = 0
        await asyncio.sleep(0.1)
    if not server.grpc_port:
        return
    async with aio.insecure_channel(f"{HOST}:{server.grpc_port}") as channel:
        await asyncio.wait_for(channel.channel_ready(), max(1.0, deadline - time.monotonic()))


def _listening(port: int) -> int:
    """How many sockets listen on TCP `port` (Linux: /proc/net/tcp; SO_REUSEPORT makes one
    per process)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


async def _get(port: int, path: bytes) -> bytes:
    """One GET on a connection of its own: the response, head and body."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return await asyncio.wait_for(reader.read(), 2.0)
    finally:
        writer.close()


async def stop_server(server: Server) -> None:
    if server.profiler is not None:
        server.profiler.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.profiler.wait(10)
    if server.proc.returncode is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(server.proc.wait(), 8.0)
        except TimeoutError:
            server.proc.kill()
            await server.proc.wait()


def server_log_issues(server: Server) -> dict[str, Any]:
    """Tracebacks, errors and slow-client closes the server wrote to its log."""
    text = server.log_path.read_text(errors="replace")
    lines = text.splitlines()
    slow = sum(1 for line in lines if "closing a slow client" in line)
    bad = [
        line
        for line in lines
        if "Traceback" in line or '"level": "error"' in line or '"level": "critical"' in line
    ]
    first_tb = ""
    if "Traceback" in text:
        start = text.index("Traceback")
        first_tb = text[start : start + 3000]
    return {
        "slow_client_closes": slow,
        "error_lines": len(bad),
        "first_error": first_tb or (bad[0][:1000] if bad else ""),
    }
