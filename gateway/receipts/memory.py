"""Receipts kept in this process: bounded by count and age, lost on restart.

Records live in publish order (an OrderedDict: a plain dict emptied from its front finds
its first item in time that grows with what was removed), so the oldest is forgotten
first, by count or by age, in O(1) each. Two indexes make an ack cost what it covers:
per user, the notifications still waiting for that user's ack (in cursor order); and the
tracked broadcasts in cursor order (bisected by the ack's range). Deadlines wait in a
heap. The feed is a bounded deque with a sequence number; readers wait on an event that
each append sets and replaces.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import time
from bisect import bisect_left, bisect_right
from collections import OrderedDict, deque

from gateway.models import UsersTarget, tuple_maker
from gateway.receipts.marks import Mark, mark_parts
from gateway.receipts.model import (
    Audience,
    Receipt,
    ReceiptUpdate,
    State,
    Tracked,
    UserReceipt,
    overall,
)
from gateway.receipts.store import Ack, Applied, FeedPage, Read, ReadOutcome, ReceiptStore

__all__ = ["MemoryReceiptStore"]

_UNUSED: set[str] = set()
#: Every new record's users start here (its user_id is filled in when read out).
_PENDING = UserReceipt("", State.PENDING)
_user_receipt = tuple_maker(UserReceipt)


class _Record:
    """One tracked notification. Per addressed user a `UserReceipt` (immutable: replaced
    on each change, and a new record's users share one pending value).

    Made without `__init__` (`_record`): one is made per tracked publish, and a Python
    constructor call cost a large share of what tracking one did."""

    __slots__ = ("acked", "at", "capped", "item", "read", "users")

    item: Tracked
    at: Mark
    users: dict[str, UserReceipt]
    #: Broadcasts: the distinct users that acked / read, up to the per-notification bound.
    #: A notification to users never touches them: it shares one empty set (two sets per
    #: publish were most of what tracking one cost).
    acked: set[str]
    read: set[str]
    capped: bool


_new_record = object.__new__


def _record(item: Tracked, at: Mark, users: dict[str, UserReceipt]) -> _Record:
    record: _Record = _new_record(_Record)
    record.item = item
    record.at = at
    record.users = users
    if users:
        record.acked = record.read = _UNUSED
    else:
        record.acked, record.read = set(), set()
    record.capped = False
    return record


class MemoryReceiptStore(ReceiptStore):
    def __init__(
        self,
        max_tracked: int = 100_000,
        max_age: float = 86_400.0,
        max_counted_users: int = 10_000,
        feed_size: int = 100_000,
    ) -> None:
        if min(max_tracked, max_counted_users, feed_size) < 1 or max_age <= 0:
            raise ValueError("receipt bounds must be positive")
        self._max_tracked = max_tracked
        self._max_age = max_age
        self._max_counted = max_counted_users
        self._records: OrderedDict[str, _Record] = OrderedDict()
        #: user → {id: mark} of notifications still waiting for that user's ack.
        self._waiting: dict[str, dict[str, Mark]] = {}
        #: tracked broadcasts in cursor order (marks and ids side by side)
        self._broadcast_at: list[Mark] = []
        self._broadcast_ids: list[str] = []
        self._deadlines: list[tuple[float, str]] = []
        self._epoch = format(time.time_ns() // 1000, "x") + os.urandom(2).hex()
        #: (item, user, state, at) per update, its seq implied by its place: the update
        #: value (and its cursor text) is made only when a watcher reads it.
        self._feed: deque[tuple[Tracked, str, State, float]] = deque(maxlen=feed_size)
        self._feed_seq = 0
        #: Set and dropped by the next update; made only while a reader waits (an Event
        #: per update was most of what an ack cost).
        self._feed_event: asyncio.Event | None = None

    async def close(self) -> None:
        if self._feed_event is not None:
            self._feed_event.set()  # readers waiting return (empty) and see the end

    async def track(self, items: list[Tracked]) -> list[tuple[float, str]]:
        """No ack can come first here: the memory log hands new entries to connections
        on the publish's own call, and their flush runs after this track."""
        records = self._records
        waiting = self._waiting
        last_store, epoch, ms = "", "", 0
        for item in items:
            nid = item.notification_id
            if nid in records:
                continue
            # a batch's cursors share their store (the memory log's always): split once
            store, _, n = item.cursor.rpartition("-")
            if store != last_store:
                last_store = store
                epoch, ms, _n = mark_parts(store, n)
            at = (epoch, ms, int(n))
            target = item.target
            if type(target) is UsersTarget:
                ids = target.user_ids
                if len(ids) == 1:  # the common case: one user, no dict of them to make
                    user_id = ids[0]
                    records[nid] = _record(item, at, {user_id: _PENDING})
                    queue = waiting.get(user_id)
                    if queue is None:
                        waiting[user_id] = {nid: at}
                    else:
                        queue[nid] = at
                else:
                    users = dict.fromkeys(ids, _PENDING)
                    records[nid] = _record(item, at, users)
                    for user_id in users:
                        waiting.setdefault(user_id, {})[nid] = at
                if item.deadline is not None:
                    heapq.heappush(self._deadlines, (item.deadline, nid))
            else:
                records[nid] = _record(item, at, {})
                self._broadcast_at.append(at)
                self._broadcast_ids.append(nid)
        self._forget(time.time())
        return []

    async def apply(self, acks: list[Ack], reads: list[Read], now: float) -> Applied:
        """Acks then reads, in order, without a coroutine per ack (nothing here waits)."""
        applied = Applied([])
        published = applied.published
        all_waiting = self._waiting
        records = self._records
        feed = self._feed
        delivered = 0
        for user_id, topics, low, high in acks:
            waiting = all_waiting.get(user_id)
            if waiting:
                for nid in [nid for nid, at in waiting.items() if low < at <= high]:
                    del waiting[nid]
                    record = records[nid]
                    users = record.users
                    users[user_id] = _user_receipt(
                        (user_id, State.DELIVERED, now, None, users[user_id].undelivered_at)
                    )
                    item = record.item
                    published.append((item.published_at, item.type))
                    feed.append((item, user_id, State.DELIVERED, now))  # as _publish does
                    delivered += 1
                if not waiting:
                    del all_waiting[user_id]
            broadcasts = self._broadcast_at
            if broadcasts and broadcasts[-1] > low:
                self._ack_broadcasts(user_id, topics, low, high, published)
        if delivered:
            self._feed_seq += delivered
            if self._feed_event is not None:
                self._feed_event.set()
                self._feed_event = None
        for read in reads:
            outcome = await self.read(read.user_id, read.topics, read.notification_id, now)
            applied.refused += outcome is ReadOutcome.REFUSED
        return applied

    def _ack_broadcasts(
        self,
        user_id: str,
        topics: frozenset[str],
        low: Mark,
        high: Mark,
        published: list[tuple[float, str]],
    ) -> None:
        broadcasts = self._broadcast_at
        lo = bisect_right(broadcasts, low)
        hi = bisect_right(broadcasts, high)
        for nid in self._broadcast_ids[lo:hi]:
            record = self._records[nid]
            if not _addresses(record.item, topics) or user_id in record.acked:
                continue
            if len(record.acked) >= self._max_counted:
                record.capped = True
                continue
            record.acked.add(user_id)
            published.append((record.item.published_at, record.item.type))

    async def read(
        self, user_id: str, topics: frozenset[str], notification_id: str, now: float
    ) -> ReadOutcome:
        record = self._records.get(notification_id)
        if record is None:
            return ReadOutcome.REFUSED
        if not record.item.users:
            if not _addresses(record.item, topics):
                return ReadOutcome.REFUSED
            if user_id in record.read:
                return ReadOutcome.REPEATED
            if len(record.read) >= self._max_counted:
                record.capped = True
                return ReadOutcome.REPEATED
            record.read.add(user_id)
            if user_id not in record.acked:
                if len(record.acked) < self._max_counted:
                    record.acked.add(user_id)
                else:
                    record.capped = True
            return ReadOutcome.COUNTED
        user = record.users.get(user_id)
        if user is None:
            return ReadOutcome.REFUSED
        if user.state is State.READ:
            return ReadOutcome.REPEATED
        delivered_at = now if user.delivered_at is None else user.delivered_at
        record.users[user_id] = UserReceipt(
            user_id, State.READ, delivered_at, now, user.undelivered_at
        )
        waiting = self._waiting.get(user_id)
        if waiting is not None:
            waiting.pop(notification_id, None)
            if not waiting:
                del self._waiting[user_id]
        self._publish(record.item, user_id, State.READ, now)
        return ReadOutcome.COUNTED

    async def get(self, ids: list[str]) -> list[Receipt]:
        self._forget(time.time())
        return [self._receipt(nid) for nid in ids]

    def _receipt(self, nid: str) -> Receipt:
        record = self._records.get(nid)
        if record is None:
            return Receipt(nid, State.UNKNOWN)
        item = record.item
        users = tuple(
            u if u.user_id == uid else u._replace(user_id=uid) for uid, u in record.users.items()
        )
        audience = None
        if not item.users:
            audience = Audience(len(record.acked), len(record.read), record.capped)
        return Receipt(
            nid,
            overall(users, audience),
            item.type,
            item.kind,
            item.cursor,
            item.published_at,
            item.deadline,
            users,
            audience,
        )

    async def expire(self, now: float) -> int:
        marked = 0
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, nid = heapq.heappop(deadlines)
            record = self._records.get(nid)
            if record is None:
                continue
            for user_id, user in record.users.items():
                if user.state is State.PENDING:
                    record.users[user_id] = UserReceipt(user_id, State.UNDELIVERED, None, None, now)
                    self._publish(record.item, user_id, State.UNDELIVERED, now)
                    marked += 1
        return marked

    def is_feed_cursor(self, text: str) -> bool:
        epoch, dash, seq = text.rpartition("-")
        return bool(dash) and bool(epoch) and seq.isascii() and seq.isdigit() and len(text) < 64

    async def read_feed(self, after: str | None, wait: float, limit: int) -> FeedPage:
        page = self._page(after, limit)
        if page.updates or wait <= 0:
            return page
        if self._feed_event is None:
            self._feed_event = asyncio.Event()
        event = self._feed_event
        try:
            async with asyncio.timeout(wait):
                await event.wait()
        except TimeoutError:
            return page
        return self._page(page.cursor, limit)

    def _page(self, after: str | None, limit: int) -> FeedPage:
        head = f"{self._epoch}-{self._feed_seq}"
        if after is None:
            return FeedPage([], head)
        epoch, _, seq_text = after.rpartition("-")
        feed = self._feed
        oldest = self._feed_seq - len(feed)  # the seq just before the oldest retained
        if epoch != self._epoch or not seq_text.isdigit() or int(seq_text) > self._feed_seq:
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

    def _publish(self, item: Tracked, user_id: str, state: State, at: float) -> None:
        self._feed_seq += 1
        self._feed.append((item, user_id, state, at))
        if self._feed_event is not None:
            self._feed_event.set()
            self._feed_event = None

    def _forget(self, now: float) -> None:
        """Drop the oldest records past the count or age bound, and their index entries."""
        records = self._records
        horizon = now - self._max_age
        while records:
            nid, record = records.popitem(last=False)
            if len(records) < self._max_tracked and record.item.published_at >= horizon:
                records[nid] = record
                records.move_to_end(nid, last=False)
                break
            for user_id in record.users:
                waiting = self._waiting.get(user_id)
                if waiting is not None:
                    waiting.pop(nid, None)
                    if not waiting:
                        del self._waiting[user_id]
            if not record.item.users:
                i = bisect_left(self._broadcast_at, record.at)
                if i < len(self._broadcast_ids) and self._broadcast_ids[i] == nid:
                    del self._broadcast_at[i]
                    del self._broadcast_ids[i]


def _addresses(item: Tracked, topics: frozenset[str]) -> bool:
    topic = item.topic
    return not topic or topic in topics
