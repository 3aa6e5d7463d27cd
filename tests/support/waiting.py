"""Waiting for a condition the gateway reaches on its own (a socket closed, Redis reached):
polls, because the tests watch state they cannot await."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(
    condition: Callable[[], object], within: float = 5.0, what: str = "", every: float = 0.02
) -> None:
    """Returns once `condition()` is true; fails the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, what or f"not within {within}s"
        await asyncio.sleep(every)
