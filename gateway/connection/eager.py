"""Run a coroutine's first steps now, on the caller's stack; a task only if it suspends.

The connect path awaits `service.attach` (and `replay`), which a shared log may need to
suspend for, while the memory log never does. Wrapping every connect in a task would cost
each one a task and a loop pass, and would leave the connection held (its 101 unsent) for
that pass: frames a client sends with its request head would then meet a connection that
cannot answer yet. So the coroutine is stepped here, and handed to a task only at its
first real suspension, as Python 3.12's eager task factory does (this runs on 3.11).
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["start_eagerly"]

log = logging.getLogger("gateway.connection")


def start_eagerly(
    coro: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]]
) -> asyncio.Task[None] | None:
    """Step `coro` until it ends or suspends; in the latter case a task (kept in `tasks`
    until done) continues it. Returns that task, or None if it already ended."""
    try:
        blocked = coro.send(None)
    except StopIteration:
        return None
    except Exception:
        log.exception("a connection's start failed")
        return None
    task = asyncio.ensure_future(_continue(coro, blocked))
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


@types.coroutine
def _continue(coro: Coroutine[Any, Any, None], blocked: Any) -> Generator[Any, None, None]:
    """Hand what `coro` is blocked on to the task driving us, and resume `coro` after it.

    A future yielded by `await` still says it is blocking (`_asyncio_future_blocking`), so
    the task waits for it as if `coro` had yielded it to the task itself.
    """
    while True:
        try:
            yield blocked
        except BaseException as exc:  # the task was cancelled: cancel `coro` the same way
            try:
                blocked = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            blocked = coro.send(None)
        except StopIteration:
            return
