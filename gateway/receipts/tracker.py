"""The receipts feature as the rest of the gateway sees it: one object over a store.

- The service hands it each batch of newly published notifications (`published`), after
  the append, never from the per-connection loop.
- Client ops hand it acks and reads (`ack`, `read`) without awaiting: they are queued,
  coalesced (a connection's newer ack replaces its older one) and applied in batches by
  one task, so a client op never waits for Redis and a flood costs a dict slot. The queue
  is bounded: past it an op is dropped and counted, never buffered without end.
- A sweeper marks passed deadlines `undelivered` (on Redis, whichever replica gets there
  first; the store makes that once).
- Publishers read receipts (`get`) and follow the feed (`watch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, cast

from gateway.connection.connection import Connection
from gateway.hub import addresses
from gateway.log.base import AppendResult, BackendUnavailable, Draft, Entry
from gateway.log.cursor import Cursor
from gateway.metrics import (
    DELIVERY_SECONDS_BUCKETS,
    Histogram,
    ReceiptStats,
    delivery_histogram,
)
from gateway.models import Invalid, NotificationItem, PublishItem, tuple_maker
from gateway.receipts.marks import Mark
from gateway.receipts.model import Receipt, Tracked, WatchFilter
from gateway.receipts.store import Ack, FeedPage, Read, ReceiptStore
from gateway.speedups import compiled
from gateway.tasks import cancel_and_wait
from gateway.types import TypeRegistry

__all__ = [
    "Receipts",
    "deadline_refusal",
    "observe",
    "observe_py",
    "tracked",
    "tracked_py",
    "unsent_replay",
]

log = logging.getLogger("gateway.receipts")

#: After the first ack of a batch, how long the ack task gathers more before applying
#: them. A batch costs ~22k instructions of its own (the task's wake-up, the Event, the
#: store call; a callgrind of Receipts over the memory store), and without the wait the
#: task ran once per event-loop pass that read an ack, a handful of acks each under load:
#: 5 ms makes it at most 200 batches a second, and a receipt's `delivered` time is that
#: much after the ack came in, at most.
GATHER_SECONDS = 0.005
#: How long one feed read waits for news before a watcher's loop goes round again.
_FEED_WAIT = 1.0
_FEED_PAGE = 500
#: A watcher whose filter matched nothing still learns the feed's position this often.
_PROGRESS_EVERY = 5.0
_MAX_BACKOFF = 2.0
#: Reads one user may have queued between two batches: past it they are dropped and
#: counted, so one flooding client cannot fill the queue that everyone's acks share.
_READS_PER_USER = 100
#: Without a type registry, the publish-to-ack histogram labels this many types by name
#: (the first seen) and the rest "other": a label per type, never unbounded.
MAX_TYPE_LABELS = 50
OTHER_TYPE = "other"
#: Expired notifications a resume may leave out of what a connection's acks cover; past
#: it, only what follows the head counts (the replay's stay pending: never a wrong
#: `delivered`).
MAX_UNSENT = 256
_ack = tuple_maker(Ack)
_tracked = tuple_maker(Tracked)


class Receipts:
    def __init__(
        self,
        store: ReceiptStore,
        *,
        max_age: float,
        sweep_every: float = 0.25,
        max_queued: int = 10_000,
        types: TypeRegistry | None = None,
        gather: float = GATHER_SECONDS,
    ) -> None:
        self.store = store
        #: How long the ack task gathers acks after the first of a batch (0: not at all).
        self._gather = gather
        #: Names the publish-to-ack histogram's `type` label (registered types only).
        self._types = types
        self.max_age = max_age
        #: The feature's figures (exposed only while receipts are on).
        self.stats = self._metrics = ReceiptStats()
        self._sweep_every = sweep_every
        self._max_queued = max_queued
        #: (user, topics) → the union of that user's acks not applied yet (its connections'
        #: ranges meet or overlap, as a connection's successive acks do); a range that
        #: does not meet it waits under (user, topics, its end).
        self._acks: dict[tuple[object, ...], Ack] = {}
        self._reads: list[Read] = []
        self._reads_by_user: dict[str, int] = {}
        self._wake = asyncio.Event()
        #: Whether `_wake` is set (a plain flag: cheaper to ask per ack than the event).
        self._woken = False
        self._tasks: list[asyncio.Task[None]] = []
        self._down_logged = False

    async def start(self) -> None:
        await self.store.start()
        self._tasks = [
            asyncio.create_task(self._sweep(), name="receipts-sweeper"),
            asyncio.create_task(self._drain(), name="receipts-acks"),
        ]

    async def close(self) -> None:
        await cancel_and_wait(*self._tasks)  # not task.cancel(): see gateway/tasks.py
        self._tasks = []
        with contextlib.suppress(BackendUnavailable):
            await self._apply()  # what clients acked before the drain still counts
        await self.store.close()

    @property
    def healthy(self) -> bool:
        return self.store.healthy

    async def published(self, items: list[Tracked]) -> None:
        """Keep receipts for newly published notifications. The notifications are already
        accepted: if the store is down they stay published and read `unknown`."""
        if not items:
            return
        try:
            early = await self.store.track(items)
        except BackendUnavailable as exc:
            self._metrics.receipts_untracked += len(items)
            self._warn(exc)
            return
        for seconds, type_ in early:  # acks that overtook the track (Redis)
            histogram = self._metrics.delivery_seconds.get(type_) or self._histogram(type_)
            histogram.observe(seconds)

    def ack(self, user_id: str, topics: frozenset[str], floor: Mark, upto: Mark) -> bool:
        """Queue a cumulative ack of `(floor, upto]`, merged with the user's queued one
        when the two ranges meet; False (dropped, counted) when the queue is full."""
        acks = self._acks
        key: tuple[object, ...] = (user_id, topics)
        queued = acks.get(key)
        if queued is not None and (
            floor[0] != queued[2][0] or floor > queued[3] or upto < queued[2]
        ):
            # apart from it (a connection that started after a gap): queued on its own,
            # under its end, where that connection's next ack (starting there) finds it
            key = (user_id, topics, floor)
            queued = acks.pop(key, None)
            if queued is not None:
                floor = queued[2]
            key = (user_id, topics, upto)
            queued = acks.get(key)
        if queued is None:
            if len(acks) + len(self._reads) >= self._max_queued:
                self._metrics.acks_ignored += 1
                return False
            acks[key] = _ack((user_id, topics, floor, upto))
        elif floor < queued[2] or upto > queued[3]:
            acks[key] = _ack((user_id, topics, min(floor, queued[2]), max(upto, queued[3])))
        if not self._woken:
            self._woken = True
            self._wake.set()
        return True

    def wake(self) -> None:
        """Have the ack task apply what is queued (the compiled ack taker queues acks
        itself, handlers.py, and calls this once per batch)."""
        self._woken = True
        self._wake.set()

    def read(self, user_id: str, topics: frozenset[str], notification_id: str) -> bool:
        """Queue a `read`; False (dropped, counted) when the queue is full."""
        queued = self._reads_by_user.get(user_id, 0)
        if queued >= _READS_PER_USER or len(self._acks) + len(self._reads) >= self._max_queued:
            self._metrics.acks_ignored += 1
            return False
        self._reads_by_user[user_id] = queued + 1
        self._reads.append(Read(user_id, topics, notification_id))
        self._woken = True
        self._wake.set()
        return True

    async def get(self, ids: list[str]) -> list[Receipt]:
        """One receipt per id (`BackendUnavailable` when the store cannot answer)."""
        return await self.store.get(ids)

    async def watch(self, wanted: WatchFilter, since: str | None) -> AsyncIterator[FeedPage]:
        """Feed pages for `wanted`, resumable after `since`: the first page at once (its
        `complete` says whether nothing was lost since `since`), then each page with a
        matching update, and an empty one now and then so the cursor moves on."""
        page = await self.store.read_feed(since, 0, _FEED_PAGE)
        first = True
        quiet_since = time.monotonic()
        while True:
            matched = [u for u in page.updates if wanted.matches(u.notification_id, u.type)]
            now = time.monotonic()
            if first or matched or (page.updates and now - quiet_since > _PROGRESS_EVERY):
                yield FeedPage(matched, page.cursor, page.complete)
                quiet_since = now
                first = False
            page = await self.store.read_feed(page.cursor, _FEED_WAIT, _FEED_PAGE)

    async def _sweep(self) -> None:
        backoff = self._sweep_every
        while True:
            await asyncio.sleep(backoff)
            try:
                self._metrics.undelivered += await self.store.expire(time.time())
                backoff = self._sweep_every
            except BackendUnavailable as exc:
                self._warn(exc)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _drain(self) -> None:
        while True:
            await self._wake.wait()
            if self._gather > 0:
                await asyncio.sleep(self._gather)  # more acks join the batch meanwhile
            try:
                await self._apply()
            except BackendUnavailable as exc:
                # the batch is lost: those users' notifications stay pending (and may turn
                # undelivered), which their next ack puts right; counted, not retried forever
                self._warn(exc)
                await asyncio.sleep(0.5)

    async def _apply(self) -> None:
        self._wake.clear()
        self._woken = False
        acks, reads = list(self._acks.values()), self._reads
        if not acks and not reads:
            return
        self._acks, self._reads, self._reads_by_user = {}, [], {}
        now = time.time()
        try:
            applied = await self.store.apply(acks, reads, now)
        except BackendUnavailable:
            self._metrics.acks_lost += len(acks) + len(reads)
            raise
        metrics = self._metrics
        metrics.acks_applied += len(acks)
        metrics.acks_ignored += applied.refused
        histograms = metrics.delivery_seconds
        if applied.delivered:  # the store's Tracked tuples
            observe(
                applied.delivered,
                histograms,
                DELIVERY_SECONDS_BUCKETS,
                now,
                self._histogram,
                _PUBLISHED_AT,
                _TYPE,
            )
        if applied.published:  # (published_at, type) pairs
            observe(applied.published, histograms, DELIVERY_SECONDS_BUCKETS, now, self._histogram)
        self._down_logged = False

    def _histogram(self, type_: str) -> Histogram:
        """The publish-to-ack histogram of `type_`'s label: its own for a registered type
        (or, without a registry, one of the first `MAX_TYPE_LABELS` seen), else "other"."""
        histograms = self._metrics.delivery_seconds
        if self._types is not None:
            known = type_ in self._types.snapshot.types
        else:
            known = len(histograms) < MAX_TYPE_LABELS
        label = type_ if known else OTHER_TYPE
        histogram = histograms.get(label)
        if histogram is None:
            histogram = histograms[label] = delivery_histogram()
        return histogram

    def _warn(self, exc: BaseException) -> None:
        if not self._down_logged:
            log.warning("receipts backend unreachable: %s", exc)
            self._down_logged = True


#: Where a `Tracked` holds what the histogram observes (`Applied.delivered`).
_PUBLISHED_AT = Tracked._fields.index("published_at")
_TYPE = Tracked._fields.index("type")


def observe_py(
    published: Sequence[tuple[Any, ...]],
    histograms: dict[str, Histogram],
    bounds: tuple[float, ...],
    now: float,
    label_of: Callable[[str], Histogram],
    at: int = 0,
    type_at: int = 1,
) -> None:
    """Each notification that turned delivered, its publish time at `at` and its type at
    `type_at` (a `(published_at, type)` pair, or a `Tracked`), observed in its type's
    publish-to-ack histogram (`label_of` names one for a type not in `histograms`) as
    `now - published_at` seconds (0 if the clock went back). The twin of
    `gateway._receipts.observe_delivery` (one C call per batch)."""
    for entry in published:
        published_at, type_ = entry[at], entry[type_at]
        histogram = histograms.get(type_)
        if histogram is None:
            histogram = label_of(type_)
        seconds = now - published_at
        if seconds < 0.0:
            seconds = 0.0
        histogram.counts[bisect_left(bounds, seconds)] += 1  # Histogram.observe, inline
        histogram.sum += seconds


Observe = Callable[..., None]
_observe_c = getattr(compiled("_receipts"), "observe_delivery", None)
observe: Observe = observe_py if _observe_c is None else cast(Observe, _observe_c)


def deadline_refusal(seconds: float, receipts: Receipts | None) -> Invalid | None:
    """Why a publish's receipt_deadline cannot be kept here, if it cannot."""
    if receipts is None:
        return Invalid(
            "notification.receipt_deadline",
            "receipts are off on this gateway (GATEWAY_RECEIPTS): nothing would report it",
        )
    if seconds > receipts.max_age:
        return Invalid(
            "notification.receipt_deadline",
            f"at most {receipts.max_age:g} s: receipts are kept that long "
            "(GATEWAY_RECEIPTS_SECONDS)",
        )
    return None


def unsent_replay(conn: Connection, since: Cursor, expired: list[Entry]) -> None:
    """A complete replay after `since`: the connection's acks count from there, except for
    the user's notifications the replay left out because their ttl had passed."""
    user_id, topics = conn.user_id, conn.topics
    unsent = [entry.cursor for entry in expired if addresses(entry.target, user_id, topics)]
    if len(unsent) <= MAX_UNSENT:
        conn.acks_from(since, unsent)


def tracked_py(
    items: list[PublishItem],
    drafts: list[Draft],
    results: list[AppendResult],
    accepted_at: float,
) -> list[Tracked]:
    """What the service's append newly added (items, drafts and results side by side),
    as receipts to keep; repeats and conflicts add nothing. The twin of
    `gateway._receipts.tracked_items` (and what runs without it)."""
    return [
        _tracked(
            (
                draft.notification_id,
                item.notification.type,
                result.cursor,
                draft.target,
                accepted_at,
                draft.receipt_until,
            )
        )
        for item, draft, result in zip(items, drafts, results, strict=True)
        if not (result.duplicate or result.conflict)
    ]


#: The fields the compiled `tracked_items` reads by position (it is not used otherwise).
_POSITIONS = (
    PublishItem._fields[:2] == ("target", "notification")
    and NotificationItem._fields[1] == "type"
    and Draft._fields[:2] == ("target", "notification_id")
    and Draft._fields[4] == "receipt_until"
    and AppendResult._fields[:4] == ("cursor", "delivered", "duplicate", "conflict")
    and Tracked._fields
    == ("notification_id", "type", "cursor", "target", "published_at", "deadline")
)
_module = compiled("_receipts")
_tracked_items = getattr(_module, "tracked_items", None) if _POSITIONS else None


def tracked(
    items: list[PublishItem],
    drafts: list[Draft],
    results: list[AppendResult],
    accepted_at: float,
) -> list[Tracked]:
    """`tracked_py` in one C call per publish (a Python tuple per item was ~2.5k
    instructions a notification); the twin when the module is missing or answers None."""
    if _tracked_items is not None:
        made = _tracked_items(Tracked, items, drafts, results, accepted_at)
        if made is not None:
            return cast(list[Tracked], made)
    return tracked_py(items, drafts, results, accepted_at)
