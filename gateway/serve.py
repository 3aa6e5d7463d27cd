"""The process around one gateway: `run()` serves until SIGTERM or SIGINT and drains, a
second signal exits at once, SIGHUP reloads the type registry; uvloop when installed.
Apart from `app.py`, which wires one `Gateway` and knows nothing of signals or loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable

from gateway.app import Gateway
from gateway.config import Settings
from gateway.gc_policy import GcPolicy

__all__ = ["run"]

log = logging.getLogger("gateway")


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Gateway(settings) as gateway:
        loop.add_signal_handler(signal.SIGHUP, gateway.request_types_reload)  # issue 16
        gc_policy = GcPolicy()
        gc_policy.start()
        try:
            await stop.wait()
        finally:
            gc_policy.stop()
        log.info("signal received: draining", extra={"grace_seconds": settings.grace_seconds})
        for sig in (signal.SIGTERM, signal.SIGINT):  # a second signal ends it at once
            loop.add_signal_handler(sig, _exit_now)


def _exit_now() -> None:
    """A second signal: stop now. Raising here would unwind the loop mid-drain, and
    half-stopped servers then print tracebacks from their finalizers; `_exit` does not."""
    log.warning("second signal: exiting without finishing the drain")
    logging.shutdown()
    os._exit(1)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.new_event_loop
    return None


def run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then drain within the grace period."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve(settings))
