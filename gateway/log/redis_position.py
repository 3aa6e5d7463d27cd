"""Where a replica's Redis feed stands in the stream, and who waits for it to move on.

The position is the newest stream id accounted for: every entry up to it addressed to
something this replica holds has been handed to the listener. It moves with each entry
delivered and with each barrier (`redis_feed`), and jumps (also back) when the store was
replaced or a failover lost entries. An append waits here for it to pass its own entries,
and reads their delivered counts (`delivered` in the Publish answer counts local
connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq

from gateway.log.redis_codec import stream_key

__all__ = ["Key", "Position"]

#: What orders stream ids: (ms, n).
Key = tuple[int, int]
#: Delivered counts kept for appends whose reply comes back after their delivery.
_RECENT = 8192


class Position:
    __slots__ = ("_waiters", "appending", "counts", "key", "seq", "sid")

    def __init__(self) -> None:
        self.key: Key = (0, 0)
        #: The stream id, as Redis prints it (`<ms>-<n>`).
        self.sid = "0-0"
        #: Its entry's sequence number; None until the feed has first caught up.
        self.seq: int | None = None
        self._waiters: list[tuple[Key, int, asyncio.Future[None]]] = []
        #: Appends in flight: while any is, delivered counts are kept for them.
        self.appending = 0
        self.counts: dict[str, int] = {}

    def set(self, key: Key, sid: str, seq: int) -> None:
        """Stand at `sid` (whose entry has sequence number `seq`)."""
        self.key, self.sid, self.seq = key, sid, seq
        if self._waiters:
            self._release()

    def advance(self, sid: str, seq: int) -> None:
        """Move forward to `sid` (a barrier's end of stream), never back."""
        key = stream_key(sid)
        if key > self.key:
            self.set(key, sid, seq)

    def delivered(self, key: Key, sid: str, seq: int, count: int) -> None:
        """The entry `sid` was handed to `count` local connections."""
        self.key, self.sid, self.seq = key, sid, seq
        if self.appending:
            counts = self.counts
            counts[sid] = count
            while len(counts) > _RECENT:
                del counts[next(iter(counts))]
        if self._waiters:
            self._release()

    def _release(self) -> None:
        waiters = self._waiters
        while waiters and waiters[0][0] <= self.key:
            future = heapq.heappop(waiters)[2]
            if not future.done():
                future.set_result(None)

    async def passed(self, sid: str, within: float) -> None:
        """Wait (at most `within` seconds) until the position is at or past `sid`."""
        key = stream_key(sid)
        if key <= self.key:
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (key, id(future), future))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await future
