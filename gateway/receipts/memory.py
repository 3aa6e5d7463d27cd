"""Receipts kept in this process: bounded by count and age, lost on restart.

Tracked notifications are numbered in publish order (`seq`) and kept in parallel lists
indexed by `seq - base`: the item and its receipt state. A notification to one user (the
common case) keeps that user's `UserReceipt` in the slot itself; one to several users a
dict of them; a broadcast its `Counts`. Tracking one thus adds slots to lists and one
small object, its entry in its user's waiting list (a record object and a dict per
publish were most of what tracking cost, the cyclic GC's scans of them included). The
oldest are forgotten first, by count or by age, by clearing their slots from the front
(the lists are trimmed in one go now and then).

Ids are indexed (id → seq) only when one is looked up, by `read` or `get`: an eager index
was a hash insertion and deletion per notification, each a cache miss in a table of
100,000 ids (`unicodekeys_lookup_unicode` was the largest single cost receipts added to a
running gateway, `perf` on the `receipts` bench), for lookups most gateways make far less
often than they publish. An id published again once the log had forgotten it (past its
idempotency window) is a new notification: the index answers the later one.

Two indexes make an ack cost what it covers: per user, the notifications still waiting for
that user's ack, each a `Rec` of its seq and position (rec.py; a list in cursor order, so
an ack takes what it covers from its front, reading one object each); and
the tracked broadcasts in cursor order (bisected by the ack's range). Deadlines wait in a
heap. The feed is memory_feed.py's, a broadcast's counts memory_counts.py's. The two
per-item loops, tracking the common notification and applying acks to users' lists, are
memory_loops.py's (one C call each, or their twins), forgetting the oldest
memory_forget.py's.
"""

from __future__ import annotations

import heapq
import time
from bisect import bisect_right, insort
from typing import cast

from gateway.models import UsersTarget
from gateway.receipts.marks import Mark, cursor_mark, log_mark
from gateway.receipts.memory_counts import Counts, addresses, read_broadcast
from gateway.receipts.memory_feed import MemoryFeed
from gateway.receipts.memory_forget import forget_oldest, unwait
from gateway.receipts.memory_loops import apply_acks, track_users
from gateway.receipts.model import (
    Audience,
    Receipt,
    State,
    Tracked,
    UserReceipt,
    overall,
)
from gateway.receipts.rec import Rec, RecLike
from gateway.receipts.store import Ack, Applied, FeedPage, Read, ReadOutcome, ReceiptStore

__all__ = ["MemoryReceiptStore"]

#: Every new notification's users start here (its user_id is filled in when read out).
_PENDING = UserReceipt("", State.PENDING)
#: A one-user receipt in these states is in no waiting list (acks and reads take it out).
_SETTLED = (State.DELIVERED, State.READ)
#: Forgotten slots at the front of the lists are trimmed once they are this many (and
#: half of the lists): one `del` per thousand forgotten, not one per notification.
_TRIM = 1024


#: One slot's receipt state (see the module's docstring).
_Slot = UserReceipt | dict[str, UserReceipt] | Counts


def _mark_of(rec: RecLike) -> Mark:
    return rec.mark


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
        #: id → seq of the notifications tracked before seq `_indexed` and not forgotten
        #: (`_index` brings it up to date; the latest seq of an id published twice).
        self._ids: dict[str, int] = {}
        self._indexed = 0
        #: Per seq from `_base` on (the first `_gone` slots are forgotten, None).
        self._items: list[Tracked | None] = []
        self._slots: list[_Slot | None] = []
        self._base = 0
        self._gone = 0
        self._next = 0
        #: The last position tracked: a later one keeps every user's list in order as it
        #: is appended (the memory log's cursors grow); an earlier one is inserted in place.
        self._last_at: Mark | None = None
        #: user → the notifications still waiting for that user's ack, in cursor order.
        self._waiting: dict[str, list[RecLike]] = {}
        #: tracked broadcasts in cursor order (marks and seqs side by side)
        self._broadcast_at: list[Mark] = []
        self._broadcast_seqs: list[int] = []
        self._deadlines: list[tuple[float, int]] = []
        self._feed = MemoryFeed(feed_size)

    async def close(self) -> None:
        self._feed.close()

    async def track(self, items: list[Tracked]) -> list[tuple[float, str]]:
        """No ack can come first here: the memory log hands new entries to connections
        on the publish's own call, and their flush runs after this track."""
        waiting = self._waiting
        slots, tracked = self._slots, self._items
        seq = self._next
        last_at = self._last_at
        i, n = 0, len(items)
        while i < n:
            # the common case (one user, no deadline, in order) in one call (C, or the
            # twin); it stops at any other item, which the loop below takes
            i, seq, last_at = track_users(
                items, i, tracked, slots, waiting, seq, last_at, _PENDING, UsersTarget
            )
            if i == n:
                break
            item = items[i]
            i += 1
            at = cursor_mark(item.cursor) or log_mark(item.cursor)  # C, or the twin
            in_order = last_at is None or at > last_at
            if in_order:
                last_at = at
            tracked.append(item)
            target = item.target
            if type(target) is UsersTarget:
                user_ids = target.user_ids
                if len(user_ids) == 1:
                    slots.append(_PENDING)
                else:
                    slots.append(dict.fromkeys(user_ids, _PENDING))
                    user_ids = tuple(dict.fromkeys(user_ids))
                rec = Rec(seq, at)
                for user_id in user_ids:
                    queue = waiting.get(user_id)
                    if queue is None:
                        waiting[user_id] = [rec]
                    elif in_order:
                        queue.append(rec)
                    else:
                        insort(queue, rec, key=_mark_of)  # tracked after a later one
                if item.deadline is not None:
                    heapq.heappush(self._deadlines, (item.deadline, seq))
            else:
                slots.append(Counts())
                j = bisect_right(self._broadcast_at, at)
                self._broadcast_at.insert(j, at)
                self._broadcast_seqs.insert(j, seq)
            seq += 1
        self._next = seq
        self._last_at = last_at
        self._forget(time.time())
        return []

    async def apply(self, acks: list[Ack], reads: list[Read], now: float) -> Applied:
        """Acks then reads, in order, without a coroutine per ack (nothing here waits)."""
        applied = Applied([])
        published = applied.published
        feed = self._feed
        # what each ack covers of its user's waiting list, in one call (C, or the twin)
        delivered = apply_acks(
            acks,
            self._waiting,
            self._slots,
            self._items,
            self._base,
            applied.delivered,
            feed.entries.append,  # as MemoryFeed.publish does, counted below
            UserReceipt,
            State.DELIVERED,
            now,
        )
        if delivered:
            feed.appended(delivered)
        broadcasts = self._broadcast_at
        if broadcasts:
            for user_id, topics, low, high in acks:
                if broadcasts[-1] > low:
                    self._ack_broadcasts(user_id, topics, low, high, published)
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
        base = self._base
        for seq in self._broadcast_seqs[lo:hi]:
            item = self._items[seq - base]
            counts = self._slots[seq - base]
            if item is None or type(counts) is not Counts:
                continue
            if not addresses(item, topics) or user_id in counts.acked:
                continue
            if len(counts.acked) >= self._max_counted:
                counts.capped = True
                continue
            counts.acked.add(user_id)
            published.append((item.published_at, item.type))

    async def read(
        self, user_id: str, topics: frozenset[str], notification_id: str, now: float
    ) -> ReadOutcome:
        seq = self._index().get(notification_id)
        if seq is None:
            return ReadOutcome.REFUSED
        k = seq - self._base
        item, slot = self._items[k], self._slots[k]
        if item is None or slot is None:
            return ReadOutcome.REFUSED
        if type(slot) is Counts:
            return read_broadcast(item, slot, user_id, topics, self._max_counted)
        if type(slot) is dict:
            user = slot.get(user_id)
        else:
            user = slot if item.target.user_ids[0] == user_id else None  # type: ignore[union-attr, assignment]
        if user is None:
            return ReadOutcome.REFUSED
        if user.state is State.READ:
            return ReadOutcome.REPEATED
        delivered_at = now if user.delivered_at is None else user.delivered_at
        receipt = UserReceipt(user_id, State.READ, delivered_at, now, user.undelivered_at)
        if type(slot) is dict:
            slot[user_id] = receipt
        else:
            self._slots[k] = receipt
        self._unwait(user_id, seq)
        self._feed.publish(item, user_id, State.READ, now)
        return ReadOutcome.COUNTED

    def _unwait(self, user_id: str, seq: int) -> None:
        """`seq` no longer waits for `user_id`'s ack (read)."""
        unwait(self._waiting, user_id, seq)

    async def get(self, ids: list[str]) -> list[Receipt]:
        self._forget(time.time())
        self._index()
        return [self._receipt(nid) for nid in ids]

    def _receipt(self, nid: str) -> Receipt:
        seq = self._ids.get(nid)
        if seq is None:
            return Receipt(nid, State.UNKNOWN)
        k = seq - self._base
        item, slot = self._items[k], self._slots[k]
        if item is None or slot is None:
            return Receipt(nid, State.UNKNOWN)
        audience = None
        users: tuple[UserReceipt, ...] = ()
        if type(slot) is Counts:
            audience = Audience(len(slot.acked), len(slot.read), slot.capped)
        elif type(slot) is dict:
            users = tuple(
                u if u.user_id == uid else u._replace(user_id=uid) for uid, u in slot.items()
            )
        else:
            one = cast(UserReceipt, slot)
            uid = cast(UsersTarget, item.target).user_ids[0]
            users = (one if one.user_id == uid else one._replace(user_id=uid),)
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
            _, seq = heapq.heappop(deadlines)
            k = seq - self._base
            if k < 0:
                continue  # forgotten
            item, slot = self._items[k], self._slots[k]
            if item is None or slot is None:
                continue
            if type(slot) is dict:
                for user_id, user in slot.items():
                    if user.state is State.PENDING:
                        slot[user_id] = UserReceipt(user_id, State.UNDELIVERED, None, None, now)
                        self._feed.publish(item, user_id, State.UNDELIVERED, now)
                        marked += 1
            elif type(slot) is UserReceipt and slot.state is State.PENDING:
                user_id = item.target.user_ids[0]  # type: ignore[union-attr]
                self._slots[k] = UserReceipt(user_id, State.UNDELIVERED, None, None, now)
                self._feed.publish(item, user_id, State.UNDELIVERED, now)
                marked += 1
        return marked

    def is_feed_cursor(self, text: str) -> bool:
        return self._feed.is_cursor(text)

    async def read_feed(self, after: str | None, wait: float, limit: int) -> FeedPage:
        return await self._feed.read(after, wait, limit)

    def _index(self) -> dict[str, int]:
        """`_ids` with every notification tracked so far: what was tracked since the last
        lookup is indexed now, in one pass. That pass is memory-bound (~0.2 µs an item,
        about what indexing each as it was tracked cost), so the first lookup after a
        long stretch without one holds the event loop up to ~25 ms at the default bound
        of 100,000 (measured 17-29 ms on the development machine); a gateway whose
        backends look ids up often pays in small passes, and one that never does, nothing."""
        ids, items, base = self._ids, self._items, self._base
        start = max(self._indexed, base + self._gone) - base
        for k in range(start, self._next - base):
            item = items[k]
            if item is not None:
                ids[item.notification_id] = base + k
        self._indexed = self._next
        return ids

    def _forget(self, now: float) -> None:
        """Forget the oldest notifications past the count or age bound, and their index
        entries (one call: C, or the twin); trim the lists' forgotten front now and then.
        Forgetting a notification already acked or read does not look its user up (it
        waits in no list; the lookup was a cold dict probe and list, seconds after it was
        tracked), so the lists acks emptied are dropped at each trim instead: one pass
        over the users per ~`max_tracked` forgotten, holding at most the users of the
        notifications forgotten between two trims."""
        items = self._items
        gone = forget_oldest(
            items,
            self._slots,
            self._ids,
            self._waiting,
            self._broadcast_at,
            self._broadcast_seqs,
            self._gone,
            self._base,
            self._indexed,
            self._max_tracked,
            now - self._max_age,
            UsersTarget,
            _SETTLED,
        )
        if gone >= _TRIM and gone * 2 >= len(items):
            del items[:gone], self._slots[:gone]
            self._base += gone
            gone = 0
            waiting = self._waiting
            for user_id in [user_id for user_id, queue in waiting.items() if not queue]:
                del waiting[user_id]
        if gone == len(items):  # nothing tracked: every list left is an empty one
            self._waiting.clear()
        self._gone = gone
