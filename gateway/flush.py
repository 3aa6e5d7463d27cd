"""When queued frames go out: a bounded coalescing policy and the loop callback that applies it.

Every publish hands its item to each recipient `Connection`, which only queues it; the
`FlushScheduler` later has each dirty connection write its items in one call. One
write per connection per flush is the whole cost of a broadcast (a loopback `send()` is
8-10 µs), so the more publishes share a flush, the cheaper each is.

grpc.aio admits unary calls one per loop pass, so flushing at the end of every tick wrote
each broadcast alone. `CoalescePolicy` decides, with a clock it is given, whether to flush
now or a little later:

- a flush is deferred only while publishes stream in: the pending batch began within
  `engage` seconds of the previous publish or of the previous flush of publishes ending
  (with one call in flight the next call comes a round trip after the ack, which leaves
  before the flush); its publishes fan out to at least `min_fan_out` connections each
  (one-recipient traffic gains nothing by waiting: the next publish goes to someone
  else); and fewer than `max_publishes` are pending;
- a deferred flush happens once no publish has arrived for `quiet` seconds, and at the
  latest `cap` seconds after the batch's first publish;
- frames that are not publishes (welcome, replay, pong) and publishes on a quiet loop
  are flushed at the end of the tick, as before: a lone notification is never delayed.

The added latency is therefore at most `cap` (5 ms) plus one loop pass, and only while
publishes arrive back to back. `quiet` (2 ms) must exceed a publisher's round trip for one
call in flight to coalesce: 0.5 ms and 1 ms left one publish per flush on this machine.

A stalled client's memory stays below its connection's limit plus one flush's items: at
most `max_publishes` publishes, plus the rest of the batch call that crossed that count
(the items are shared; each connection holds pointers to them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.metrics import Metrics

if TYPE_CHECKING:
    from gateway.connection.outbox import Outbox

__all__ = ["CoalescePolicy", "FlushScheduler"]

Clock = Callable[[], float]


class CoalescePolicy:
    """Whether to flush now or how long to wait; knows nothing of connections or the loop."""

    __slots__ = (
        "_cap",
        "_clock",
        "_engage",
        "_first",
        "_flushed_at",
        "_last",
        "_max_publishes",
        "_min_fan_out",
        "_quiet",
        "_streaming",
        "publishes",
        "recipients",
    )

    def __init__(
        self,
        clock: Clock = time.perf_counter,
        *,
        cap: float = 0.005,
        quiet: float = 0.002,
        engage: float = 0.003,
        min_fan_out: float = 4.0,
        max_publishes: int = 1000,
    ) -> None:
        self._clock = clock
        self._cap = cap
        self._quiet = quiet
        self._engage = engage
        self._min_fan_out = min_fan_out
        self._max_publishes = max_publishes
        self._first = 0.0
        self._last = -float("inf")
        self._flushed_at = -float("inf")
        self._streaming = False
        #: Publishes (and their recipients, summed) whose frames wait for the next flush.
        self.publishes = 0
        self.recipients = 0

    def arrived(self, recipients: int) -> None:
        """One publish was handed to `recipients` connections (none: it queued nothing,
        so it is no part of a flush)."""
        if not recipients:
            return
        now = self._clock()
        if not self.publishes:
            self._first = now
            # busy: a publish arrived, or a flush of publishes ended, within `engage`
            self._streaming = now - max(self._last, self._flushed_at) <= self._engage
        self._last = now
        self.publishes += 1
        self.recipients += recipients

    def now(self) -> float:
        """The policy's clock: where a batch of publishes began (`arrived_many`)."""
        return self._clock()

    def arrived_many(self, publishes: int, recipients: int, started: float) -> None:
        """`publishes` publishes (each to at least one connection) were handed to
        `recipients` connections in all, in one synchronous stretch that began at
        `started` (`now`): what as many `arrived` calls record, with one clock read.

        No callback runs inside such a stretch, so nothing reads the state between the
        calls it stands for; the batch begins at `started` (at most the stretch's lead
        before its first recipient earlier than `arrived` would say) and its last
        publish is now. A clock read and a call per per-user notification were ~2k.
        """
        if not publishes:
            return
        if not self.publishes:
            self._first = started
            self._streaming = started - max(self._last, self._flushed_at) <= self._engage
        self._last = self._clock()
        self.publishes += publishes
        self.recipients += recipients

    def wait(self) -> float:
        """Seconds to wait before flushing; 0.0 means flush now."""
        publishes = self.publishes
        if (
            not publishes
            or publishes >= self._max_publishes
            or self.recipients < self._min_fan_out * publishes
            or not self._streaming
        ):
            return 0.0
        now = self._clock()
        wait = min(self._first + self._cap, self._last + self._quiet) - now
        return wait if wait > 0.0 else 0.0

    def quiet(self) -> bool:
        """Whether a publish arriving now would be flushed at the end of its tick (nothing
        pending, and no publish or flush of publishes within `engage`)."""
        if self.publishes:
            return False
        return self._clock() - max(self._last, self._flushed_at) > self._engage

    def flushed(self) -> None:
        """The pending frames went out: the next batch starts empty."""
        if self.publishes:
            self._flushed_at = self._clock()
        self.publishes = 0
        self.recipients = 0


class FlushScheduler:
    """Collects the connections that got items and flushes them all in one callback.

    The callback runs at the end of the tick; when the policy says wait, it re-arms itself
    with `call_later`. uvloop's timers have millisecond resolution and run a shorter delay
    on the next loop pass, so a sub-millisecond wait re-checks every pass until it is due.
    """

    __slots__ = (
        "_dirty",
        "_loop",
        "_metrics",
        "_policy",
        "_scheduled",
        "_wrote_through",
        "now",
        "published",
        "published_many",
        "through",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        policy: CoalescePolicy | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        #: The running loop, found at the first mark when not given (the scheduler is made
        #: with the service, before the loop runs).
        self._loop = loop
        self._policy = policy if policy is not None else CoalescePolicy()
        #: `published(recipients)`: one publish was fanned out to `recipients` connections
        #: (the service calls it per entry). The policy's own method, not a call to it:
        #: a Python call per per-user notification (~1k instructions).
        self.published: Callable[[int], None] = self._policy.arrived
        #: `published_many(publishes, recipients, started)`: `published` for the entries
        #: of one synchronous stretch begun at `now()`, told once (the policy's own).
        self.published_many: Callable[[int, int, float], None] = self._policy.arrived_many
        self.now: Callable[[], float] = self._policy.now
        self._metrics = metrics if metrics is not None else Metrics()
        self._dirty: list[Outbox] = []
        self._scheduled = False
        #: Set by `write_through`: the next fan-out writes each connection's frame as it
        #: goes (`through.write_each`) instead of queuing it for a flush pass; the fan-out
        #: clears it.
        self.through = False
        self._wrote_through = False

    def write_through(self) -> None:
        """One publish of one notification is about to be fanned out: let it write as it
        goes if its frames would be flushed at the end of the tick anyway (nothing waits
        to be flushed, and the policy would not defer it).

        Writing in the fan-out spares every recipient the flush pass (a Python call per
        connection, ~2.5k instructions: ~1 ms for 1,000 subscribers, before the first
        `send()`, since uvloop sends the tick's writes after its callbacks). Only a
        one-item publish: the items of a batch must share one write per connection, and
        a fan-out that wrote through ends the mode for the rest of the tick.
        """
        if not self._dirty and not self._scheduled and self._policy.quiet():
            self.through = True

    def wrote_through(self, size: int) -> None:
        """The fan-out wrote its frames of `size` bytes (`write_each`): that was this
        publish's flush (its write sampled as a flush pass samples one)."""
        self.through = False
        self._wrote_through = True
        if size:
            self._metrics.flush_bytes.observe(size)

    def through_done(self) -> None:
        """The publish that `write_through` was for has been fanned out (or failed)."""
        self.through = False
        if self._wrote_through:
            self._wrote_through = False
            policy = self._policy
            if self._scheduled:  # some recipients queued (SSE, held): the tick's flush
                return  # counts the publish, once
            if policy.publishes:
                self._metrics.flushes += 1
                self._metrics.flushed_publishes += policy.publishes
            policy.flushed()

    def mark(self, conn: Outbox) -> None:
        """`conn` has items to write (called once until it is flushed)."""
        self._dirty.append(conn)
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._check)

    def _check(self) -> None:
        wait = self._policy.wait()
        if wait and self._loop is not None:
            self._loop.call_later(wait, self._check)
            return
        self.flush()

    def flush(self) -> None:
        """Write every dirty connection's items now."""
        self._scheduled = False
        metrics = self._metrics
        policy = self._policy
        if policy.publishes:
            metrics.flushes += 1
            metrics.flushed_publishes += policy.publishes
        dirty, self._dirty = self._dirty, []
        # one write per pass is sampled: observing each one added ~0.6 us to a ~2 us write
        if dirty and (sampled := dirty[0].pending_bytes()):
            metrics.flush_bytes.observe(sampled)
        for conn in dirty:
            conn.flush()
        policy.flushed()
