"""The shared log on Redis: one stream every replica appends to and follows.

Writes: `append` is one `APPEND` script call per batch (see `redis_scripts`), which checks
each id's idempotency key and adds the entry to the stream `<prefix>:log`. Its entry IDs,
behind the store's epoch (`<epoch>.<ms>-<n>`), are the cursors: the same on every replica.

Reads: each replica follows the stream with `XREAD BLOCK` in batches from the last entry
it handed to its follower, on its own connection, in one task started by `start()`. After
a Redis error it retries with backoff and carries on from that entry, so nothing retained
is skipped. Entries carry consecutive sequence numbers: a jump means entries this replica
had not delivered were trimmed (or the store was replaced), and the listener's `gap` closes
its connections so clients resume with `since` and learn `complete: false`.

`delivered` counts the accepting replica's connections only: `append` waits (briefly) for
its own follower to pass the new entries, so when Publish answers, local clients have
their frames queued; other replicas' counts would cost a round of questions per publish.

Errors never hang a caller: every call has a socket timeout, nothing is retried inside
redis-py, and a failed call raises `BackendUnavailable` and marks the log unhealthy until
the follower reads again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.log.base import (
    AppendResult,
    BackendUnavailable,
    Draft,
    Entry,
    GapScope,
    LogListener,
    NotificationLog,
    Replay,
    encode_target,
    fingerprint,
)
from gateway.log.cursor import Cursor
from gateway.log.redis_client import CONNECTION_ERRORS, connect
from gateway.log.redis_peers import RedisPeers
from gateway.log.redis_scripts import APPEND, ENSURE_EPOCH
from gateway.models import MAX_BATCH_ITEMS, EveryoneTarget, Target, TopicTarget, UsersTarget

__all__ = ["RedisLog", "decode_target"]

log = logging.getLogger("gateway.redis")

_EVERYONE = EveryoneTarget()
#: Entries read per XREAD: bounds a replica's memory while it catches up.
_READ_BATCH = 1000
#: How long one XREAD waits on the server for new entries (ms).
_BLOCK_MS = 1000
#: How long `append` waits for its own follower before answering `delivered: 0`.
_DELIVERY_WAIT = 1.0
_MAX_BACKOFF = 2.0
#: How often the follower compares its position with the log's head (seconds).
_CENSUS_EVERY = 5.0
#: The fewest entries the stream keeps (see `__init__`).
_MIN_STREAM_LENGTH = 4 * MAX_BATCH_ITEMS
#: Follower counts kept for appends whose reply comes back after the follower's read.
_RECENT = 8192


def _sid(text: str) -> tuple[int, int]:
    ms, _, n = text.partition("-")
    return int(ms), int(n or 0)


def decode_target(raw: bytes) -> Target:
    """The target `encode_target` wrote; already validated at publish, so not again."""
    kind, rest = raw[:1], raw[1:].decode()
    if kind == b"u":
        return UsersTarget.model_construct(user_ids=tuple(rest.split(",")))
    if kind == b"t":
        return TopicTarget.model_construct(topic=rest)
    return _EVERYONE


class _Waiter:
    """One append waiting for its own replica to hand its new entries to the hub."""

    __slots__ = ("counts", "done", "left")

    def __init__(self, sids: list[str]) -> None:
        self.counts = dict.fromkeys(sids, 0)
        self.left = len(sids)
        self.done = asyncio.get_running_loop().create_future()

    def delivered(self, sid: str, count: int) -> None:
        self.counts[sid] = count
        self.left -= 1
        if not self.left and not self.done.done():
            self.done.set_result(None)


class RedisLog(NotificationLog):
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "gateway",
        max_entries: int = 10_000,
        max_age: float = 3600.0,
        idempotency_seconds: float = 300.0,
    ) -> None:
        super().__init__()
        self._keys = [f"{prefix}:log", f"{prefix}:seq", f"{prefix}:epoch"]
        self._id_prefix = f"{prefix}:id:"
        # A follower that keeps up must never find a batch trimmed before it could read
        # it, so the stream keeps a few of the largest batches whatever history_size says.
        maxlen = max(max_entries, _MIN_STREAM_LENGTH)
        self._fixed = [maxlen, int(max_age * 1000), max(1, int(idempotency_seconds))]
        self._max_entries = max_entries
        replica = os.urandom(6).hex()
        self._writer = connect(url, read_timeout=2.0, name=f"gateway-{replica}-w")
        self._reader = connect(
            url, read_timeout=_BLOCK_MS / 1000 + 2.0, name=f"gateway-{replica}-r"
        )
        self._append = self._writer.register_script(APPEND)
        self._ensure_epoch = self._writer.register_script(ENSURE_EPOCH)
        self._peers = self.peers = RedisPeers(url, prefix, replica, self.stats)
        self._epoch = ""
        self._last_id = "0-0"
        self._last_seq: int | None = None
        self._up = False
        self._synced = False
        self._task: asyncio.Task[None] | None = None
        self._waiting: dict[str, _Waiter] = {}
        #: Counts of entries the follower handed off while appends were in flight: the
        #: follower's read can come back before the append's own reply (bounded).
        self._recent: dict[str, int] = {}
        self._appending = 0
        self._next_census = 0.0

    @property
    def healthy(self) -> bool:
        return self._up

    async def start(self, listener: LogListener) -> None:
        """Start following; an unreachable Redis is retried in the background (see module)."""
        await super().start(listener)
        self._task = asyncio.create_task(self._follow(), name="redis-follower")
        await self._peers.start(listener)

    async def close(self) -> None:
        await self._peers.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._writer.aclose()
        await self._reader.aclose()

    def head(self) -> Cursor:
        return Cursor.of_stream(self._epoch, self._last_id)

    async def append(self, drafts: list[Draft]) -> list[AppendResult]:
        args: list[Any] = [os.urandom(4).hex(), *self._fixed, self._id_prefix]
        now = time.time()
        for draft in drafts:  # by name: other features add fields to Draft
            ttl = draft.ttl
            receipt_until = draft.receipt_until
            until = "" if ttl is None else repr(now + ttl.total_seconds())
            args += (
                draft.notification_id,
                fingerprint(draft.target, draft.body),
                encode_target(draft.target),
                draft.body,
                until,
                "" if receipt_until is None else repr(receipt_until),
                draft.trace or "",
            )
        self._appending += 1
        try:
            reply = await self._call(self._append(keys=self._keys, args=args))
            epoch = reply[0].decode()
            outcomes = [(item[:1].decode(), item[1:].decode()) for item in reply[1:]]
            counts: dict[str, int] = {}
            new = [sid for kind, sid in outcomes if kind == "n"]
            if new and epoch == self._epoch:
                counts = await self._delivered(new)
        finally:
            self._appending -= 1
            if not self._appending:
                self._recent.clear()
        return [
            AppendResult(f"{epoch}.{sid}", counts.get(sid, 0), kind == "d", kind == "c")
            for kind, sid in outcomes
        ]

    async def _delivered(self, sids: list[str]) -> dict[str, int]:
        """Wait until this replica's follower has handed `sids` to the hub; their counts."""
        recent = self._recent
        last = _sid(self._last_id)
        counts = {sid: recent.get(sid, 0) for sid in sids if _sid(sid) <= last}
        sids = [sid for sid in sids if sid not in counts]
        if not sids:
            return counts
        waiter = _Waiter(sids)
        waiting = self._waiting
        for sid in sids:
            waiting[sid] = waiter
        try:
            async with asyncio.timeout(_DELIVERY_WAIT):
                await waiter.done
        except TimeoutError:
            for sid in sids:
                waiting.pop(sid, None)
        counts.update(waiter.counts)
        return counts

    async def read_since(self, since: Cursor, until: Cursor) -> Replay:
        """Entries in (since, until]. Trimming cuts the stream from its oldest end, so the
        replay is complete when `since` itself is still retained; a `since` already
        trimmed answers incomplete even if it was the last entry trimmed (never the
        other way round). `<epoch>.0-0`, the head of an empty stream, is complete while
        the stream's first entry is its first ever (sequence 1)."""
        ours = since.of(self._epoch) and since.ms is not None
        until_id = until.stream_id if until.of(self._epoch) else "+"
        if ours and until.of(self._epoch) and since.after(until):
            ours = False  # a client claiming the future: give all we have
        since_id = since.stream_id
        start = since_id if ours else "-"

        def read() -> Any:
            return self._writer.xrange(self._keys[0], start, until_id, count=self._max_entries + 1)

        rows: Any = await self._call(read(), again=read)
        complete = False
        if ours:
            if rows and rows[0][0].decode() == since_id:
                rows, complete = rows[1:], True
            elif since_id == "0-0":
                complete = not rows or rows[0][1][b"s"] == b"1"
            else:
                complete = since_id == until_id
        now = time.time()
        entries = []
        for sid, fields in rows:
            entry = self._entry(self._epoch, sid, fields)
            if entry.replay_until is None or entry.replay_until > now:
                entries.append(entry)
        return Replay(entries, complete)

    def _entry(self, epoch: str, sid: bytes, fields: dict[bytes, bytes]) -> Entry:
        until = fields.get(b"r")
        receipt_until = fields.get(b"k")
        trace = fields.get(b"p")
        return Entry(
            f"{epoch}.{sid.decode()}",
            decode_target(fields[b"t"]),
            fields[b"i"].decode(),
            fields[b"b"],
            float(until) if until else None,
            float(receipt_until) if receipt_until else None,
            trace.decode() if trace else None,
        )

    async def _call(self, call: Any, *, again: Callable[[], Any] | None = None) -> Any:
        """Await one Redis call, timing it; any failure becomes `BackendUnavailable`.

        `again` makes an idempotent read's call once more after a connection error (not a
        timeout): a pooled connection that a Redis restart left stale fails its first use
        (redis-py then drops it), and the read should not fail a client for that."""
        started = time.perf_counter()
        try:
            reply = await call
        except CONNECTION_ERRORS as exc:
            if again is not None and not isinstance(exc, RedisTimeoutError):
                return await self._call(again())
            self.stats.errors += 1
            self._down(exc)
            raise BackendUnavailable(f"Redis is unreachable: {exc}") from None
        self.stats.round_trip_seconds.observe(time.perf_counter() - started)
        return reply

    def _down(self, exc: BaseException) -> None:
        if self._up:
            log.warning("Redis unreachable: %s", exc or type(exc).__name__)
        self._up = False

    async def _follow(self) -> None:
        backoff = 0.1
        while True:
            try:
                if not self._synced:
                    await self._sync()
                    self._mark_up()
                if time.monotonic() > self._next_census:
                    await self._measure_lag()
                reply: Any = await self._reader.xread(
                    {self._keys[0]: self._last_id}, count=_READ_BATCH, block=_BLOCK_MS
                )
            except CONNECTION_ERRORS as exc:
                self.stats.errors += 1
                if self._up or backoff == 0.1:
                    log.warning("Redis unreachable, retrying: %s", exc or type(exc).__name__)
                self._up = False
                self._synced = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            self._mark_up()
            backoff = 0.1
            if reply:
                self._hand_off(reply[0][1])
            else:
                self.stats.follower_lag_seconds = 0.0

    async def _measure_lag(self) -> None:
        """How many entries the log's head is ahead of this replica (every few seconds)."""
        self._next_census = time.monotonic() + _CENSUS_EVERY
        head = await self._reader.get(self._keys[1])
        if head is not None and self._last_seq is not None:
            self.stats.follower_lag_entries = max(0, int(head) - self._last_seq)

    def _mark_up(self) -> None:
        if not self._up:
            log.info("Redis reachable", extra={"cursor": str(self.head())})
        self._up = True

    async def _sync(self) -> None:
        """Learn the store's epoch; on the first sync (or a new epoch) start at its end."""
        epoch = (
            await self._ensure_epoch(keys=[self._keys[2]], args=[os.urandom(4).hex()])
        ).decode()
        if epoch == self._epoch:
            self._synced = True
            return
        last: Any = await self._reader.xrevrange(self._keys[0], "+", "-", count=1)
        if self._epoch:  # the store was flushed or replaced while this replica ran
            log.warning("Redis store replaced (epoch %s -> %s): clients resume", self._epoch, epoch)
            self.stats.gaps += 1
            self._listener.gap(GapScope("the Redis store was replaced"))
        self._epoch = epoch
        self._last_id = last[0][0].decode() if last else "0-0"
        self._last_seq = int(last[0][1][b"s"]) if last else None
        self._synced = True

    def _hand_off(self, rows: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Give `rows` to the follower in order; a sequence jump is a gap (see module)."""
        deliver = self._listener.deliver
        waiting = self._waiting
        epoch = self._epoch
        last_seq = self._last_seq
        sid = ""
        for raw_sid, fields in rows:
            seq = int(fields[b"s"])
            if last_seq is not None and seq != last_seq + 1:
                log.warning(
                    "entries trimmed before this replica read them: closing its clients (4010)",
                    extra={"after": str(self.head()), "expected_seq": last_seq + 1, "seq": seq},
                )
                self.stats.gaps += 1
                self._last_seq = None
                self._synced = False  # a jump back means a new store: check the epoch
                self._listener.gap(GapScope("entries were trimmed before this replica read them"))
                return
            last_seq = seq
            entry = self._entry(epoch, raw_sid, fields)
            sid = raw_sid.decode()
            count = deliver(entry)
            self._last_id = sid
            self._last_seq = seq
            if waiting:
                waiter = waiting.pop(sid, None)
                if waiter is not None:
                    waiter.delivered(sid, count)
            if self._appending:
                self._recent[sid] = count
        recent = self._recent
        while len(recent) > _RECENT:
            del recent[next(iter(recent))]
        self.stats.followed += len(rows)
        if sid:
            self.stats.follower_lag_seconds = max(0.0, time.time() - _sid(sid)[0] / 1000)
