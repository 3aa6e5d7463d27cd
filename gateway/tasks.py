"""Stopping background tasks for sure, although a cancellation can be lost on Python 3.11.

On 3.11, `asyncio.wait_for` returns the inner result when the task awaiting it is
cancelled in the same loop pass as the inner awaitable finishes, and the cancellation
is gone (CPython gh-86296, fixed in 3.12 by rebuilding `wait_for` on `asyncio.timeout`).
redis-py sends every command through `wait_for` when a socket timeout is set, as ours
are, so a task cancelled while it sends a Redis command can carry on as if nothing had
happened: `task.cancel(); await task` then waits forever. That is how a drain hung for
600 s in CI (the receipts sweeper, cancelled mid-command, went back to its sleep).

So whoever ends a task that may be talking to Redis cancels it with `cancel_surely`
(which cancels again every `AGAIN` seconds until the task has ended) or awaits its end
with `cancel_and_wait`. A task that handles its cancellation and cleans up for longer
than `AGAIN` is interrupted again, which only cuts that cleanup short: the clients it
used are closed by their owners right after.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["AGAIN", "cancel_and_wait", "cancel_surely"]

#: Seconds between one cancellation of a task that has not ended and the next.
AGAIN = 0.25


def cancel_surely(task: asyncio.Future[Any] | None, again: float = AGAIN) -> None:
    """`task.cancel()`, repeated every `again` seconds until the task is done."""
    if task is None or task.done():
        return
    task.cancel()
    loop = task.get_loop()

    def repeat() -> None:
        if not task.done():
            task.cancel()
            loop.call_later(again, repeat)

    loop.call_later(again, repeat)


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None, again: float = AGAIN) -> None:
    """Cancel `tasks` (None entries skipped) and return once every one has ended.

    What a task ended with is collected, not raised: it is being stopped, and an error
    it met on the way out must not stop the caller's shutdown half-way.
    """
    pending = [task for task in tasks if task is not None and not task.done()]
    for task in pending:
        cancel_surely(task, again)
    if pending:
        await asyncio.wait(pending)
    for ended in tasks:
        if ended is not None and ended.done() and not ended.cancelled():
            ended.exception()  # retrieved, so asyncio does not log it as never retrieved
