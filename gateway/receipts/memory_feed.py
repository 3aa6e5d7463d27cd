"""The memory receipt store's feed: every change of a user's state, bounded, resumable.

A deque of `(item, user, state, at)` with a sequence number: an update's place implies
its seq, and its value (and cursor text) is made only when a watcher reads it. Readers
wait on an event that the next append sets and drops (made only while one waits: an
Event per update was most of what an ack cost). Cursors are `<epoch>-<seq>`, the epoch
this process's own, so a cursor from before a restart reads as incomplete.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque

from gateway.receipts.model import ReceiptUpdate, State, Tracked
from gateway.receipts.store import FeedPage

__all__ = ["MemoryFeed"]


class MemoryFeed:
    __slots__ = ("_epoch", "_event", "entries", "seq")

    def __init__(self, size: int) -> None:
        self._epoch = format(time.time_ns() // 1000, "x") + os.urandom(2).hex()
        #: Appended to directly by the store's ack loop, which then calls `appended`.
        self.entries: deque[tuple[Tracked, str, State, float]] = deque(maxlen=size)
        #: The seq of the last update appended.
        self.seq = 0
        self._event: asyncio.Event | None = None

    def close(self) -> None:
        if self._event is not None:
            self._event.set()  # readers waiting return (empty) and see the end

    def publish(self, item: Tracked, user_id: str, state: State, at: float) -> None:
        self.entries.append((item, user_id, state, at))
        self.appended(1)

    def appended(self, count: int) -> None:
        """`count` updates were appended to `entries`: count them, wake the readers."""
        self.seq += count
        if self._event is not None:
            self._event.set()
            self._event = None

    def is_cursor(self, text: str) -> bool:
        epoch, dash, seq = text.rpartition("-")
        return bool(dash) and bool(epoch) and seq.isascii() and seq.isdigit() and len(text) < 64

    async def read(self, after: str | None, wait: float, limit: int) -> FeedPage:
        page = self._page(after, limit)
        if page.updates or wait <= 0:
            return page
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        try:
            async with asyncio.timeout(wait):
                await event.wait()
        except TimeoutError:
            return page
        return self._page(page.cursor, limit)

    def _page(self, after: str | None, limit: int) -> FeedPage:
        head = f"{self._epoch}-{self.seq}"
        if after is None:
            return FeedPage([], head)
        epoch, _, seq_text = after.rpartition("-")
        feed = self.entries
        oldest = self.seq - len(feed)  # the seq just before the oldest retained
        if epoch != self._epoch or not seq_text.isdigit() or int(seq_text) > self.seq:
            # another process's feed (a restart) or a cursor from the future: all we have
            seq, complete = oldest, False
        else:
            seq = int(seq_text)
            complete = seq >= oldest
            seq = max(seq, oldest)
        start = seq - oldest
        epoch = self._epoch
        updates = []
        for i in range(start, min(len(feed), start + limit)):
            item, user_id, state, at = feed[i]
            cursor = f"{epoch}-{oldest + i + 1}"
            updates.append(
                ReceiptUpdate(cursor, item.notification_id, item.type, user_id, state, at)
            )
        cursor = updates[-1].cursor if updates else f"{epoch}-{seq}"
        return FeedPage(updates, cursor, complete)
