"""One loop-wide heartbeat for every connection, instead of a timer per connection.

Every `interval` seconds each connection is visited once (`Connection.beat`): a WebSocket
is pinged if it sent anything since the previous visit and aborted (no close handshake,
as aiohttp's own heartbeat does) if it stayed silent, so a dead peer is dropped within two
intervals; an SSE stream, which cannot answer, gets a keep-alive comment. Connections are
visited a slice at a time, about one slice a second, chosen by user ID (str hashes are
well mixed; object hashes follow addresses): pinging 20,000 at once stalled the loop for
half a second, and a timer per socket cost 0.8 KiB of each idle connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from gateway.connection.connection import Connection

__all__ = ["Heartbeat"]

log = logging.getLogger("gateway.ws")

#: The most slices one interval is cut into (at most one a second).
MAX_SLICES = 30


class Heartbeat:
    def __init__(self, connections: Iterable[Connection], interval: float) -> None:
        self._connections = connections
        self._interval = interval
        self._slices = max(1, min(MAX_SLICES, int(interval)))
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._schedule(0)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._interval / self._slices, self._visit, index)

    def _visit(self, index: int) -> None:
        """Visit one slice: abort the silent connections, ping the others."""
        slices = self._slices
        self._schedule((index + 1) % slices)
        due = [c for c in self._connections if hash(c.user_id) % slices == index]
        silent = sum(not conn.beat() for conn in due)
        if silent:
            log.info("dropped %d connections silent for a heartbeat interval", silent)
