"""How an edge's drain waits for its open connections to go: `Emptied`.

The WebSocket and SSE edges both close every connection on a drain, then wait a bounded
time for them to end on their own (a close handshake answered, a final event written)
before aborting the rest. The waiting is the same for both, so it lives here once.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["Emptied"]


class Emptied:
    """Wakes a drain waiting in `wait` once the edge reports its last connection gone."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def released(self, left: int) -> None:
        """A connection has gone and `left` remain."""
        if not left and self._event is not None:
            self._event.set()

    async def wait(self, left: int, within: float) -> None:
        """Return once `released(0)` is reported, or after `within` seconds; at once when
        nothing is left or no time is."""
        if not left or within <= 0:
            return
        self._event = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._event.wait()
