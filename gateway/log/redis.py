"""The shared log on Redis: one stream for history, and live delivery by interest.

Writes: `append` is one `APPEND` script call per batch (see `redis_scripts`), which checks
each id's idempotency key, adds the entry to the stream `<prefix>:log` and publishes it on
the channel of each address it goes to. Its entry IDs, behind the store's epoch
(`<epoch>.<ms>-<n>`), are the cursors: the same on every replica.

Reads: a replica receives live only the entries addressed to what its connections hold
(`watch`/`unwatch`), through the `RedisFeed`, which also catches up from the stream after
any break and reports gaps (entries owed but trimmed, or a replaced store) to the
listener, whose connections then resume with `since` and learn `complete: false`.
Replays (`read_since`) read the stream.

`delivered` counts the accepting replica's connections only: `append` waits (briefly) for
its own feed to pass the new entries it holds an address of, so when Publish answers,
local clients have their frames queued; other replicas' counts would cost a round of
questions per publish.

Errors never hang a caller: every call has a socket timeout, nothing is retried inside
redis-py, and a failed call raises `BackendUnavailable` and marks the log unhealthy until
Redis answers again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.log.address import Address
from gateway.log.base import (
    AppendResult,
    BackendUnavailable,
    Draft,
    LogListener,
    NotificationLog,
    Replay,
    encode_target,
    fingerprint,
)
from gateway.log.cursor import Cursor
from gateway.log.redis_client import CONNECTION_ERRORS, connect, connect_cluster
from gateway.log.redis_codec import decode_target, entry_of
from gateway.log.redis_feed import RedisFeed
from gateway.log.redis_peers import RedisPeers
from gateway.log.redis_scripts import APPEND
from gateway.log.redis_url import CLUSTER_SCHEME, cluster_node_url
from gateway.metrics import BackendStats
from gateway.models import MAX_BATCH_ITEMS

__all__ = ["RedisLog", "decode_target"]

#: How long `append` waits for its own feed before answering `delivered: 0`.
_DELIVERY_WAIT = 1.0
#: The fewest entries the stream keeps (see `__init__`).
_MIN_STREAM_LENGTH = 4 * MAX_BATCH_ITEMS


class RedisLog(NotificationLog):
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "gateway",
        max_entries: int = 10_000,
        max_age: float = 3600.0,
        idempotency_seconds: float = 300.0,
        stats: BackendStats | None = None,
        control: bool = True,
    ) -> None:
        """`stats` and `control` are for a shard of a sharded log (`gateway.log.shards`):
        the figures it shares with the others, and whether it carries the replicas'
        questions (presence, Disconnect; one designated shard does)."""
        super().__init__()
        if stats is not None:
            self.stats = stats
        self._keys = [f"{prefix}:log", f"{prefix}:seq", f"{prefix}:epoch"]
        # A feed that reconnects must find what it owes still there, so the stream keeps
        # a few of the largest batches whatever history_size says.
        maxlen = max(max_entries, _MIN_STREAM_LENGTH)
        replica = os.urandom(6).hex()
        name = f"gateway-{replica}-w"
        # on a Redis Cluster (a shard of a sharded log: the prefix is a hash tag) every key
        # and channel is in one slot, and live entries go by sharded pub/sub on its node
        cluster = url.startswith(CLUSTER_SCHEME + "://")
        self._writer = (
            connect_cluster(url, read_timeout=2.0, name=name)
            if cluster
            else connect(url, read_timeout=2.0, name=name)
        )
        self._feed = RedisFeed(url, prefix, replica, self.stats, self._writer)
        self._fixed = [
            maxlen,
            int(max_age * 1000),
            max(1, int(idempotency_seconds)),
            f"{prefix}:id:",
            self._feed.channels.prefix,
            "SPUBLISH" if cluster else "PUBLISH",
        ]
        self._max_entries = max_entries
        self._append = self._writer.register_script(APPEND)
        # a cluster's questions go through one node (its first seed): PUBLISH there counts
        # the replicas subscribed there, which is all of them
        peers_url = cluster_node_url(url) if cluster else url
        self._peers = self.peers = (
            RedisPeers(peers_url, prefix, replica, self.stats) if control else None
        )

    @property
    def healthy(self) -> bool:
        return self._feed.up and self._feed.live

    async def start(self, listener: LogListener) -> None:
        """Start the feed; an unreachable Redis is retried in the background."""
        await super().start(listener)
        self._feed.start(listener)
        if self._peers is not None:
            await self._peers.start(listener)

    async def close(self) -> None:
        if self._peers is not None:
            await self._peers.close()
        await self._feed.close()
        await self._writer.aclose()

    @property
    def epoch(self) -> str:
        """The store's epoch, which every cursor of this log carries ("" before it is known)."""
        return self._feed.epoch

    def head(self) -> Cursor:
        return Cursor.of_stream(self._feed.epoch, self._feed.at.sid)

    def watch(self, addresses: Collection[Address]) -> Awaitable[None]:
        """Hold `addresses` now; the awaitable subscribes to the new ones and moves
        `head()` past everything appended before (see `RedisFeed`)."""
        return self._feed.confirming(self._feed.hold(addresses))

    def unwatch(self, addresses: Collection[Address]) -> None:
        self._feed.unwatch(addresses)

    async def append(
        self, drafts: list[Draft], prints: list[bytes] | None = None
    ) -> list[AppendResult]:
        """See `NotificationLog.append`; `prints`: each draft's `fingerprint`, when it is
        not its own target's (a sharded log appends part of a users target per shard, and
        a retry must match the whole target)."""
        args: list[Any] = [os.urandom(4).hex(), *self._fixed]
        now = time.time()
        targets = []
        for i, draft in enumerate(drafts):  # by name: other features add fields to Draft
            ttl = draft.ttl
            receipt_until = draft.receipt_until
            until = "" if ttl is None else repr(now + ttl.total_seconds())
            target = encode_target(draft.target)
            targets.append(target)
            args += (
                draft.notification_id,
                fingerprint(draft.target, draft.body) if prints is None else prints[i],
                target,
                draft.body,
                until,
                "" if receipt_until is None else repr(receipt_until),
                draft.trace or "",
            )
        feed = self._feed
        at = feed.at
        at.appending += 1
        try:
            reply = await self._call(self._append(keys=self._keys, args=args))
            epoch = reply[0].decode()
            outcomes = [(item[:1].decode(), item[1:].decode()) for item in reply[1:]]
            counts: dict[str, int] = {}
            if epoch != feed.epoch and feed.epoch:
                feed.restart()  # the store was flushed or replaced: catch up, report the gap
            elif epoch == feed.epoch:
                # only what this replica holds comes back to it: wait for the newest of those
                held = [
                    sid
                    for (kind, sid), target in zip(outcomes, targets, strict=True)
                    if kind == "n" and feed.holds(target)
                ]
                if held:
                    await at.passed(held[-1], _DELIVERY_WAIT)
                    counts = at.counts
            results = [
                AppendResult(f"{epoch}.{sid}", counts.get(sid, 0), kind == "d", kind == "c")
                for kind, sid in outcomes
            ]
        finally:
            at.appending -= 1
            if not at.appending:
                at.counts.clear()
        return results

    async def read_since(self, since: Cursor, until: Cursor) -> Replay:
        """Entries in (since, until]. Trimming cuts the stream from its oldest end, so the
        replay is complete when `since` itself is still retained; a `since` already
        trimmed answers incomplete even if it was the last entry trimmed (never the
        other way round). `<epoch>.0-0`, the head of an empty stream, is complete while
        the stream's first entry is its first ever (sequence 1)."""
        ours = since.of(self._feed.epoch) and since.ms is not None
        until_id = until.stream_id if until.of(self._feed.epoch) else "+"
        if ours and until.of(self._feed.epoch) and since.after(until):
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
        entries, expired = [], []
        for sid, fields in rows:
            entry = entry_of(self._feed.epoch, sid, fields)
            if entry.replay_until is None or entry.replay_until > now:
                entries.append(entry)
            else:
                expired.append(entry)  # receipts: never replayed, never acked
        return Replay(entries, complete, expired)

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
            self._feed.down(exc)
            raise BackendUnavailable(f"Redis is unreachable: {exc}") from None
        self.stats.round_trip_seconds.observe(time.perf_counter() - started)
        return reply
