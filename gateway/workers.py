"""Several gateway processes on one host's ports (`--workers N`, issue 15).

One Python process uses one core. N workers, each a complete gateway (`serve.run`) and a
replica of its own over the shared backend, bind the same HTTP, gRPC (and ops) ports with
SO_REUSEPORT, and the kernel spreads new connections over them. A publish on any worker
reaches every worker's clients the way it reaches other replicas': through the Redis log.

SO_REUSEPORT would also let a second, unrelated gateway bind the same ports and silently
take part of the traffic, so the supervisor first checks the ports the way a single
gateway does (a bind without SO_REUSEPORT: anything listening there refuses it), and
only then starts the workers, which skip that check. A second gateway started later fails
its own check against our workers' sockets.

Signals: the workers leave the terminal's process group (and start with SIGINT ignored
until their own handlers are in place), so a Ctrl-C reaches the supervisor alone, which
passes each SIGTERM or SIGINT on to every worker, once, as a SIGTERM: the first drains them
all, a second ends them at once (as for one gateway). A SIGHUP is passed on as it is: each
worker reloads its type registry (issue 16); unhandled, its default action would end the
supervisor and leave the workers running unsupervised. Workers start with SIGHUP ignored
too, so one that arrives before a worker's own handler cannot end it. A worker that exits
unasked (a crash, a start that failed) makes the supervisor drain the others and exit
non-zero, so the process manager restarts the whole: a host never runs silently with fewer
workers. A worker still running `grace_seconds` + 5 s after the first signal is killed.

Workers are started with `multiprocessing`'s spawn (a fresh interpreter each; gRPC's core
does not survive a fork once it has threads) and are given the parsed `Settings`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from gateway.binding import probe_port
from gateway.config import ConfigError, Settings

__all__ = ["supervise"]

log = logging.getLogger("gateway")

#: A worker's exit code for a configuration error found while starting (as the CLI's).
_CONFIG_ERROR = 2
#: Seconds past `grace_seconds` a worker may take to stop before it is killed.
_GRACE_MARGIN = 5.0


def supervise(settings: Settings) -> int:
    """Check the ports, run `settings.workers` workers until a signal (or one exits), and
    return the exit code: 0 after a drain, 2 for a configuration error, 1 otherwise."""
    probe_port("http_port", settings.http_host, settings.http_port)
    probe_port("grpc_port", settings.grpc_host, settings.grpc_port)
    if settings.ops_port is not None:
        probe_port("ops_port", settings.ops_host, settings.ops_port)
    received: list[int] = []
    reloads: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    def on_reload(signum: int, _frame: FrameType | None) -> None:
        reloads.append(signum)

    context = multiprocessing.get_context("spawn")
    workers: list[BaseProcess] = [
        context.Process(target=_work, args=(settings,), name=f"gateway-worker-{n}")
        for n in range(settings.workers)
    ]
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: see the module docstring
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for worker in workers:
        worker.start()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_reload)
    log.info("workers started", extra={"workers": [w.pid for w in workers]})
    return _watch(workers, received, settings.grace_seconds + _GRACE_MARGIN, reloads)


def _watch(
    workers: list[BaseProcess], received: list[int], grace: float, reloads: list[int]
) -> int:
    """Pass each signal on once (SIGHUP as it is); drain the rest when a worker ends
    unasked; kill what still runs `grace` seconds after the first signal (a drain is
    bounded by then)."""
    live = list(workers)
    passed = 0
    code = 0
    kill_at: float | None = None
    while live:
        if kill_at is not None and time.monotonic() > kill_at:
            log.error("workers still running after the grace period: killed")
            for worker in live:
                worker.kill()
            kill_at = None
            code = code or 1
        ended = wait([w.sentinel for w in live], timeout=0.2)
        for worker in [w for w in live if w.sentinel in ended]:
            live.remove(worker)
            worker.join()
            exit_code = worker.exitcode or 0
            if not received:
                log.error(
                    "a worker exited unasked: draining the others",
                    extra={"pid": worker.pid, "exit_code": exit_code},
                )
                code = _CONFIG_ERROR if exit_code == _CONFIG_ERROR else 1
                received.append(signal.SIGTERM)
            elif exit_code:
                code = code or (_CONFIG_ERROR if exit_code == _CONFIG_ERROR else 1)
        while reloads:
            reloads.pop()
            for worker in live:
                if worker.pid is not None:
                    os.kill(worker.pid, signal.SIGHUP)
        while passed < len(received):
            if kill_at is None and not passed:
                kill_at = time.monotonic() + grace
            passed += 1
            for worker in live:
                if worker.pid is not None:
                    os.kill(worker.pid, signal.SIGTERM)
    log.info("workers stopped", extra={"exit_code": code})
    return code


def _work(settings: Settings) -> None:
    """One worker: its own process group (see the module docstring), then one gateway."""
    from gateway.logs import setup_logging
    from gateway.serve import run

    os.setpgrp()
    setup_logging(settings.log_level)
    try:
        run(settings)
    except ConfigError as exc:
        logging.getLogger("gateway").error(
            f"configuration error: {exc}", extra={"field": exc.field}
        )
        raise SystemExit(_CONFIG_ERROR) from None
