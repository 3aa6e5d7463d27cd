"""The embedded default log: a bounded deque in this process, following itself synchronously.

Cursors are `<epoch>-<seq>`: the epoch is fixed per process, so a cursor from before a
restart is recognised as unknown (replayed as incomplete) instead of being misread.
Retention is by count and by age. Idempotency keys live on their own clock: each id is
remembered for `idempotency_seconds` after its first publish (at most `max_ids` of them,
the oldest forgotten first), whether or not its entry is still retained.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from gateway.log.base import (
    AppendResult,
    Draft,
    Entry,
    NotificationLog,
    Replay,
    local_fingerprint,
)
from gateway.log.cursor import Cursor
from gateway.models import tuple_maker
from gateway.speedups import compiled

__all__ = ["MemoryLog"]


# Made once per notification: in C, from the fields this file knows (tuple_maker fills
# in the defaults of any that other features add later).
_entry = tuple_maker(Entry, 7)
_result = tuple_maker(AppendResult, 4)


def _compiled_append() -> Callable[..., list[AppendResult] | None] | None:
    """gateway._publish's append (memlog.c), handed the classes and the fingerprint; None
    without the module (then `append_py` always runs)."""
    module = compiled("_publish")
    if module is None:
        return None
    module.configure_append(
        Draft, Entry, _tail(Entry, 7), AppendResult, _tail(AppendResult, 4), local_fingerprint
    )
    append: Callable[..., list[AppendResult] | None] = module.append
    return append


def _tail(cls: type, given: int) -> tuple[object, ...]:
    """The defaults of `cls`'s fields after the first `given` (added later by features)."""
    fields: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    defaults: dict[str, object] = cls._field_defaults  # type: ignore[attr-defined]
    return tuple(defaults[name] for name in fields[given:])


_append = _compiled_append()


class MemoryLog(NotificationLog):
    delivers_on_append = True  # append delivers each new entry before it returns

    def __init__(
        self,
        max_entries: int = 10_000,
        max_age: float = 3600.0,
        idempotency_seconds: float = 300.0,
        max_ids: int = 1_000_000,
    ) -> None:
        super().__init__()
        if max_entries < 1 or max_age <= 0:
            raise ValueError("the history log needs room for at least one entry")
        if idempotency_seconds <= 0 or max_ids < 1:
            raise ValueError("the idempotency window must be positive")
        self._window = idempotency_seconds
        self._max_ids = max_ids
        self._max_entries = max_entries
        self._max_age = max_age
        self._epoch = format(time.time_ns() // 1000, "x")
        self._seq = 0
        #: The last head handed out: every connect reads it, and it moves only on appends.
        self._head = Cursor(self._epoch, None, 0)
        #: (seq, accepted_at, entry), oldest first.
        self._entries: deque[tuple[int, float, Entry]] = deque()
        #: id → (first cursor, fingerprint); insertion order is expiry order.
        self._by_id: dict[str, tuple[str, int]] = {}
        #: (forget_at, id), oldest first.
        self._id_expiry: deque[tuple[float, str]] = deque()
        #: Highest seq no longer retained: a resume from before it is incomplete.
        self._evicted_through = 0

    async def append(self, drafts: list[Draft]) -> list[AppendResult]:
        now = time.time()
        self._evict(now)
        deliver = self._listener.deliver
        if _append is not None:
            results = _append(self, drafts, now, deliver)
            if results is not None:
                return results
        return self.append_py(drafts, now, deliver)

    def append_py(
        self, drafts: list[Draft], now: float, deliver: Callable[[Entry], int]
    ) -> list[AppendResult]:
        """`append`'s loop after the clock and the eviction: the twin of the compiled one
        (gateway/csrc/memlog.c, ~7k instructions fewer per notification), which leaves
        the log in the same state; tests/unit/test_speedups_memlog.py holds them together."""
        # locals, and the sequence kept in one: this loop runs once per notification
        by_id = self._by_id
        entries = self._entries
        results = []
        id_expiry = self._id_expiry
        forget_at = now + self._window
        max_ids = self._max_ids
        max_entries = self._max_entries
        prefix = f"{self._epoch}-"
        seq = self._seq
        for draft in drafts:  # by name: other features add fields to Draft
            target = draft.target
            notification_id = draft.notification_id
            body = draft.body
            ttl = draft.ttl
            receipt_until = draft.receipt_until
            trace = draft.trace
            print_ = local_fingerprint(target, body)
            first = by_id.get(notification_id)
            if first is not None:
                cursor, first_print = first
                if first_print == print_:
                    results.append(_result((cursor, 0, True, False)))
                else:
                    results.append(_result((cursor, 0, False, True)))
                continue
            seq += 1
            self._seq = seq  # head() is current while the listener runs
            replay_until = None if ttl is None else now + ttl.total_seconds()
            cursor = f"{prefix}{seq}"
            entry = _entry(
                (cursor, target, notification_id, body, replay_until, receipt_until, trace)
            )
            entries.append((seq, now, entry))
            by_id[notification_id] = (cursor, print_)
            id_expiry.append((forget_at, notification_id))
            if len(by_id) > max_ids:
                by_id.pop(id_expiry.popleft()[1], None)
            if len(entries) > max_entries:
                self._evicted_through = entries.popleft()[0]
            results.append(_result((cursor, deliver(entry), False, False)))
        return results

    def head(self) -> Cursor:
        head = self._head
        if head.n != self._seq:  # a frozen dataclass costs ~3k instructions to make
            head = self._head = Cursor(self._epoch, None, self._seq)
        return head

    async def read_since(self, since: Cursor, until: Cursor) -> Replay:
        now = time.time()
        self._evict(now)
        since_seq = self._seq_of(since)
        until_seq = self._seq_of(until)
        if until_seq is None:
            until_seq = self._seq
        if since_seq is None or since_seq > until_seq:
            # Not ours (another process, or a client claiming the future): give all we have.
            since_seq, complete = 0, False
        else:
            complete = since_seq >= self._evicted_through
        entries, expired = [], []
        for seq, _, entry in self._entries:
            if since_seq < seq <= until_seq:
                if entry.replay_until is None or entry.replay_until > now:
                    entries.append(entry)
                else:
                    expired.append(entry)  # receipts: never replayed, never acked
        return Replay(entries, complete, expired)

    def _seq_of(self, cursor: Cursor) -> int | None:
        if not cursor.of(self._epoch) or cursor.ms is not None:
            return None
        return cursor.n

    def _evict(self, now: float) -> None:
        horizon = now - self._max_age
        while self._entries and self._entries[0][1] < horizon:
            self._drop_oldest()
        id_expiry = self._id_expiry
        while id_expiry and id_expiry[0][0] <= now:
            self._by_id.pop(id_expiry.popleft()[1], None)

    def _drop_oldest(self) -> None:
        self._evicted_through = self._entries.popleft()[0]
