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
from collections.abc import AsyncIterator

from gateway.log.base import AppendResult, BackendUnavailable, Draft
from gateway.log.cursor import Cursor
from gateway.metrics import ReceiptStats
from gateway.models import Invalid, PublishItem
from gateway.receipts.model import Receipt, Tracked, WatchFilter
from gateway.receipts.store import Ack, FeedPage, Read, ReceiptStore
from gateway.tasks import cancel_and_wait

__all__ = ["Receipts", "deadline_refusal", "tracked"]

log = logging.getLogger("gateway.receipts")

#: How long one feed read waits for news before a watcher's loop goes round again.
_FEED_WAIT = 1.0
_FEED_PAGE = 500
#: A watcher whose filter matched nothing still learns the feed's position this often.
_PROGRESS_EVERY = 5.0
_MAX_BACKOFF = 2.0
#: Reads one user may have queued between two batches: past it they are dropped and
#: counted, so one flooding client cannot fill the queue that everyone's acks share.
_READS_PER_USER = 100


class Receipts:
    def __init__(
        self,
        store: ReceiptStore,
        *,
        max_age: float,
        sweep_every: float = 0.25,
        max_queued: int = 10_000,
    ) -> None:
        self.store = store
        self.max_age = max_age
        #: The feature's figures (exposed only while receipts are on).
        self.stats = self._metrics = ReceiptStats()
        self._sweep_every = sweep_every
        self._max_queued = max_queued
        #: (user, floor) → the newest ack of that connection's range not applied yet.
        self._acks: dict[tuple[str, Cursor], Ack] = {}
        self._reads: list[Read] = []
        self._reads_by_user: dict[str, int] = {}
        self._wake = asyncio.Event()
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
            await self.store.track(items)
        except BackendUnavailable as exc:
            self._metrics.receipts_untracked += len(items)
            self._warn(exc)

    def ack(self, user_id: str, topics: frozenset[str], floor: Cursor, upto: Cursor) -> bool:
        """Queue one connection's cumulative ack; False (dropped, counted) when full."""
        key = (user_id, floor)
        queued = self._acks.get(key)
        if queued is None and len(self._acks) + len(self._reads) >= self._max_queued:
            self._metrics.acks_ignored += 1
            return False
        if queued is None or upto.after(queued.upto):
            self._acks[key] = Ack(user_id, topics, floor, upto)
        self._wake.set()
        return True

    def read(self, user_id: str, topics: frozenset[str], notification_id: str) -> bool:
        """Queue a `read`; False (dropped, counted) when the queue is full."""
        queued = self._reads_by_user.get(user_id, 0)
        if queued >= _READS_PER_USER or len(self._acks) + len(self._reads) >= self._max_queued:
            self._metrics.acks_ignored += 1
            return False
        self._reads_by_user[user_id] = queued + 1
        self._reads.append(Read(user_id, topics, notification_id))
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
            try:
                await self._apply()
            except BackendUnavailable as exc:
                # the batch is lost: those users' notifications stay pending (and may turn
                # undelivered), which their next ack puts right; counted, not retried forever
                self._warn(exc)
                await asyncio.sleep(0.5)

    async def _apply(self) -> None:
        self._wake.clear()
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
        histogram = metrics.delivery_seconds
        for published_at in applied.published:
            histogram.observe(max(0.0, now - published_at))
        self._down_logged = False

    def _warn(self, exc: BaseException) -> None:
        if not self._down_logged:
            log.warning("receipts backend unreachable: %s", exc)
            self._down_logged = True


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


def tracked(
    items: list[PublishItem],
    drafts: list[Draft],
    results: list[AppendResult],
    accepted_at: float,
) -> list[Tracked]:
    """What the service's append newly added (items, drafts and results side by side),
    as receipts to keep; repeats and conflicts add nothing."""
    return [
        Tracked(
            draft.notification_id,
            item.notification.type,
            result.cursor,
            draft.target,
            accepted_at,
            draft.receipt_until,
        )
        for item, draft, result in zip(items, drafts, results, strict=True)
        if not (result.duplicate or result.conflict)
    ]
