"""The core behind both edges: publish into the log, fan entries out, register connections.

The gRPC edge calls `publish`, `presence` and `disconnect`; the client edges (WebSocket,
SSE) call `admit`, `attach`, `replay`, `subscribe`, `unsubscribe` and `detach`. Every
accepted notification goes through the log, and the log hands it back to the service, its
`LogListener` (`deliver`), which gives it to the hub: one path for one replica or many.
When the log is shared, `presence` and `disconnect` also ask the other replicas
(`log.peers`) and add up their answers, and the service answers theirs (`answer`); alone,
they stay local and synchronous in effect.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections.abc import Awaitable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from gateway.closecodes import CloseCode
from gateway.connection.connection import Connection
from gateway.connection.outgoing import Outgoing
from gateway.drafts import PENDING as _PENDING
from gateway.drafts import drafts_each, drafts_of, tally
from gateway.flush import FlushScheduler
from gateway.hub import Hub, addresses
from gateway.log.address import Address, addresses_of
from gateway.log.address import topic as address_topic
from gateway.log.base import (
    READY,
    AppendResult,
    BackendUnavailable,
    Entry,
    GapScope,
    NotificationLog,
)
from gateway.log.cursor import Cursor
from gateway.metrics import Metrics
from gateway.models import Invalid, PublishItem, UsersTarget
from gateway.questions import ReplicaQuestions, Unavailable
from gateway.receipts.tracker import Receipts, tracked, unsent_replay
from gateway.tracing import OFF, Tracing
from gateway.types import TypeRegistry

__all__ = ["Conflict", "NotificationService", "Refused", "Unavailable"]


class Conflict(ValueError):
    """A publish reused an id (within the idempotency window) for another notification."""

    def __init__(self, notification_id: str, cursor: str) -> None:
        super().__init__(
            f"notification.id: {notification_id!r} was already published with another "
            f"target or content (at cursor {cursor}); use a new id"
        )
        self.notification_id = notification_id


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a connection is not admitted: an HTTP status and a reason."""

    status: int
    reason: str


class NotificationService(ReplicaQuestions):
    def __init__(
        self,
        log: NotificationLog,
        hub: Hub,
        scheduler: FlushScheduler,
        *,
        max_notification_bytes: int,
        max_connections: int,
        max_connections_per_user: int,
        receipts: Receipts | None = None,
        types: TypeRegistry | None = None,
        tracing: Tracing = OFF,
        metrics: Metrics | None = None,
    ) -> None:
        self.log = log
        #: Receipts (issue 17): None when they are off, and then nothing is paid for them.
        self.receipts = receipts
        # tracing (issue 19): spans around the append and each fan-out when on
        self._tracing = tracing
        self.hub = hub
        #: The hub's user index, read by `deliver`'s one-user case.
        self._by_user = hub.users_index()
        #: The type registry every publish is checked against (issue 16); None: none.
        self.types = types
        #: Told of each fan-out's recipient count: it decides when queued items go out.
        self._scheduler = scheduler
        self.accepting = True
        self.metrics = metrics if metrics is not None else Metrics()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._max_bytes = max_notification_bytes
        #: The fan-out histogram's bucket of a one-connection delivery (see `deliver`).
        self._one_bucket = bisect_left(self.metrics.fanout_connections.bounds, 1)
        self._max_connections = max_connections
        self._max_per_user = max_connections_per_user
        #: Inside a batch's append on a log that delivers on append (`publish_many`):
        #: `deliver` counts into the tally, told to the scheduler once at the end.
        self._tallying = 0
        self._tally_publishes = 0
        self._tally_recipients = 0
        self._tally_ones = 0

    async def start(self) -> None:
        """Start the log with this service as its listener (entries, gaps, peers' questions)."""
        await self.log.start(self)

    def gap(self, scope: GapScope) -> None:
        """Entries owed to local connections were lost: close them with 4010 (they resume);
        over a sharded log only the lost shard's users' connections."""
        if scope.users is None:
            self.close_all_local(CloseCode.GAP, "gap: resume with since")
            return
        owed = [conn for conn in self.hub.connections() if scope.users(conn.user_id)]
        self._close(owed, CloseCode.GAP, "gap: resume with since")

    def deliver(self, entry: Entry) -> int:
        """Hand one entry to the local connections it addresses (the log calls this)."""
        if entry.trace is not None and self._tracing.on:
            # counted into its run's fan-out span, which hands the entry back here without
            # its trace: the untraced path stays one check and no extra call
            return self._tracing.fan_out(entry, self.deliver)
        item = Outgoing.notification(entry.cursor, entry.body)
        target = entry.target
        if type(target) is UsersTarget and len(user_ids := target.user_ids) == 1:
            # one user's entry, the most entries: `Hub.deliver`'s first case inline (its
            # call was ~0.5k); a users target is never written through (`write_through`)
            conn = self._by_user.get(user_ids[0])
            if conn is None:
                count = 0
            elif isinstance(conn, dict):
                count = self.hub.deliver(target, item)
            else:
                conn.send(item)
                count = 1
        else:
            count = self._deliver_other(entry, item)
        if self._tallying:  # in a batch's append: told and observed at its end
            if count == 1:
                self._tally_ones += 1
                return 1
            if count:
                self._tally_publishes += 1
                self._tally_recipients += count
        else:
            self._scheduler.published(count)
        if count == 1:  # per-user, the most entries: observed inline (a call was ~2k)
            fan_out = self.metrics.fanout_connections
            fan_out.counts[self._one_bucket] += 1
            fan_out.sum += 1
        else:
            self.metrics.fanout_connections.observe(count)
        return count

    def _told(self, started: float) -> None:
        """A batch's append (begun at `started`) is over: its tally, to the scheduler and
        the fan-out histogram (`deliver`; one-connection entries apart, the most)."""
        self._tallying -= 1
        ones = self._tally_ones
        if ones:
            fan_out = self.metrics.fanout_connections
            fan_out.counts[self._one_bucket] += ones
            fan_out.sum += ones
        self._scheduler.published_many(
            self._tally_publishes + ones, self._tally_recipients + ones, started
        )
        self._tally_publishes = self._tally_recipients = self._tally_ones = 0

    def _deliver_other(self, entry: Entry, item: Outgoing) -> int:
        """`deliver`'s fan-out of any entry but one user's."""
        scheduler = self._scheduler
        if scheduler.through:  # one publish's one entry, nothing else to flush: see flush.py
            count = self.hub.write_through(entry.target, item)
            if count is not None:
                scheduler.wrote_through(len(item.ws) if count else 0)
                return count
        return self.hub.deliver(entry.target, item)

    def deliver_shard(self, entry: Entry, shard: int) -> int:
        """A sharded log's topic or everyone entry: to `shard`'s users' connections only."""
        if entry.trace is not None and self._tracing.on:
            return self._tracing.fan_out(entry, lambda bare: self.deliver_shard(bare, shard), shard)
        item = Outgoing.notification(entry.cursor, entry.body)
        count = self.hub.deliver_shard(shard, entry.target, item)
        self.metrics.fanout_connections.observe(count)
        self._scheduler.published(count)
        return count

    async def publish(self, item: PublishItem) -> AppendResult:
        """Append one notification to the log (which delivers it).

        Raises `Invalid` if too large, `Conflict` for a reused id, `Unavailable`.
        """
        (outcome,) = await self.publish_many([item])
        if isinstance(outcome, Invalid | Conflict):
            raise outcome
        return outcome

    async def publish_many(
        self, items: list[PublishItem]
    ) -> list[AppendResult | Invalid | Conflict]:
        """Encode each item once, append the ones within the size limit in one log call.

        Returns one outcome per item, in order: its `AppendResult`, the `Invalid` that
        kept it out, or the `Conflict` of a reused id. Raises `Unavailable` (for all of
        them) while draining or when the log cannot be reached.
        """
        if not self.accepting:
            raise Unavailable("the gateway is draining; publish to another replica")
        receipts = self.receipts
        accepted_at = time.time() if receipts is not None else 0.0  # receipts only
        # the current publish span's context, stored with each entry (tracing on, sampled)
        trace = self._tracing.traceparent() if self._tracing.on else None
        # the common batch (no type registry, no receipt deadline, every item within the
        # limit) in one call, in C: no outcome but the results (drafts.py)
        found = drafts_of(items, self._max_bytes, trace) if self.types is None else None
        if found is None:
            outcomes, drafts = drafts_each(
                items, accepted_at, trace, self._max_bytes, self.types, receipts
            )
        else:
            drafts = found
            outcomes = [_PENDING] * len(drafts)
        if not drafts:
            return [*outcomes]  # every item refused (rare): the list widened to the return type
        self._in_flight += 1
        self._idle.clear()
        # one notification on a log that delivers it before append returns: its fan-out
        # may write as it goes (flush.py); a batch's items share one flush
        through = len(drafts) == 1 and self.log.delivers_on_append
        scheduler = self._scheduler
        if through:
            scheduler.write_through()
        # a batch's entries are fanned out inside this one append, with no callback
        # between them: the policy is told of them once, after (flush.py's arrived_many)
        tallying = not through and self.log.delivers_on_append
        started = 0.0
        if tallying:
            started = scheduler.now()
            self._tallying += 1
        try:
            if trace is None:
                results = await self.log.append(drafts)
            else:
                with self._tracing.append(len(drafts)):
                    results = await self.log.append(drafts)
        except BackendUnavailable as exc:
            raise Unavailable(str(exc)) from None
        finally:
            if through:
                scheduler.through_done()
            if tallying:
                self._told(started)
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()
        # counted in one pass (in C), added once
        metrics = self.metrics
        published, delivered, duplicates, conflicts = tally(results)
        metrics.published += published
        metrics.delivered += delivered
        metrics.duplicates += duplicates
        if receipts is not None:
            # receipts (issue 17): track what this call newly appended (every item when
            # each was drafted, the common batch: no list rebuilt item by item)
            new = (
                items
                if len(drafts) == len(items) and type(items) is list
                else [item for item, o in zip(items, outcomes, strict=True) if o is _PENDING]
            )
            await receipts.published(tracked(new, drafts, results, accepted_at))
        settled: list[AppendResult | Invalid | Conflict] = list(results)
        if conflicts:
            metrics.conflicts += conflicts
            settled = [
                Conflict(draft.notification_id, result.cursor) if result.conflict else result
                for draft, result in zip(drafts, results, strict=True)
            ]
        if len(drafts) == len(outcomes):
            return settled
        appended = iter(settled)
        return [next(appended) if outcome is _PENDING else outcome for outcome in outcomes]

    async def wait_idle(self) -> None:
        """Wait until no accepted publish is still on its way into the log (for drain)."""
        await self._idle.wait()

    def admit(self, user_id: str) -> Refused | None:
        """Whether one more connection for `user_id` fits, checked before the upgrade."""
        if not self.accepting:
            return Refused(503, "the gateway is draining; reconnect to another replica")
        if not self.log.shard(user_id).healthy:
            return Refused(503, "the gateway cannot reach its backend; retry later")
        if len(self.hub) >= self._max_connections:
            return Refused(503, "the gateway is at its connection limit; retry later")
        if self.hub.user_count(user_id) >= self._max_per_user:
            return Refused(429, f"user_id has {self._max_per_user} connections already (the limit)")
        return None

    async def attach(self, conn: Connection) -> Cursor:
        """Put `conn` in live delivery; returns the log head it starts after. The log takes
        its addresses first (later entries come live, the head passes earlier ones), then
        no await until the head is read: a replay up to it meets live delivery exactly."""
        attached = self.attach_now(conn)
        return attached if isinstance(attached, Cursor) else await attached

    def attach_now(self, conn: Connection) -> Cursor | Coroutine[Any, Any, Cursor]:
        """`attach` on the caller's stack: the head at once when the log has nothing to
        wait for (its `watch` answers `READY`, as the memory log's does), else the coroutine
        that waits and then attaches (await it exactly once). A connect on the memory log so
        runs no coroutine: with `start_eagerly`'s stepping, ~5k instructions per connect."""
        log = self.log.shard(conn.user_id)  # the log itself unless it shards
        held = addresses_of(conn.user_id, conn.topics)
        try:
            waiting = log.watch(held)
        except BaseException:
            log.unwatch(held)
            raise
        if waiting is READY:
            return self._join(conn, log)
        return self._join_after(conn, log, held, waiting)

    async def _join_after(
        self, conn: Connection, log: NotificationLog, held: list[Address], waiting: Awaitable[None]
    ) -> Cursor:
        try:
            await waiting
        except BaseException:
            log.unwatch(held)
            raise
        return self._join(conn, log)

    def _join(self, conn: Connection, log: NotificationLog) -> Cursor:
        """Into the hub, and the head read, with no await between them (see `attach`)."""
        self.hub.add(conn)
        head = log.head()
        if self.receipts is not None:  # receipts (issue 17): acks count from here
            conn.acks_from(head)
        return head

    def subscribe(self, conn: Connection, topic: str) -> Awaitable[None]:
        """Add `topic` to a connection (the caller checked limits and grant). The hub
        has it at once; the awaitable completes once the log delivers the topic's new
        entries here (at once on the memory log: `READY`), which is when the client may
        be told it is subscribed."""
        if topic in conn.topics:
            return READY
        self.hub.subscribe(conn, topic)
        if conn in self.hub:
            return self.log.shard(conn.user_id).watch([address_topic(topic)])
        return READY

    def unsubscribe(self, conn: Connection, topic: str) -> None:
        if topic not in conn.topics:
            return
        self.hub.unsubscribe(conn, topic)
        if conn in self.hub:
            self.log.shard(conn.user_id).unwatch([address_topic(topic)])

    async def replay(
        self, conn: Connection, since: Cursor, until: Cursor
    ) -> tuple[Outgoing, Iterator[Outgoing]]:
        """The `resumed` event for `conn` and the items it missed after `since` up to `until`.

        The items are built as they are taken (the connection writes them as its transport
        drains), so a long replay costs references to the log's entries, not a copy.
        The caller holds live items back until the replay is in front of them.
        """
        replay = await self.log.shard(conn.user_id).read_since(since, until)
        if self.receipts is not None and replay.complete:
            # receipts (issue 17): what the replay carries may be acked too, but not what
            # it left out (expired); after an incomplete one only what follows the head
            unsent_replay(conn, since, replay.expired)
        entries = [
            entry for entry in replay.entries if addresses(entry.target, conn.user_id, conn.topics)
        ]
        self.metrics.replayed += len(entries)
        resumed = Outgoing.of(
            "resumed", since=str(since), complete=replay.complete, replayed=len(entries)
        )
        return resumed, (Outgoing.notification(entry.cursor, entry.body) for entry in entries)

    def detach(self, conn: Connection) -> None:
        """Out of live delivery, its addresses released (idempotent: every way a
        connection ends calls it)."""
        if conn in self.hub:
            self.hub.remove(conn)
            self.log.shard(conn.user_id).unwatch(addresses_of(conn.user_id, conn.topics))
