"""A log over several Redis stores: users by hash, topics and everyone on every shard.

Each shard is a whole `RedisLog` (its own stream, sequence, epoch, idempotency keys and
live feed), on its own Redis (a list of URLs), or under its own hash tag on a Redis
Cluster (`{<prefix>-<n>}:log`, ...: one slot, so the append script and its SPUBLISHes
stay on the node that owns it). A user lives on `shard_index(user_id)`, a
stable hash of the id, so:

- a per-user publish is appended to its user's shard only (a publish to users of several
  shards: one append per shard, each with its own users);
- a topic or `everyone` publish is appended to every shard, so every connection finds
  all it is owed on its user's shard;
- a connection watches, reads its head from and replays from its user's shard alone
  (`shard(user_id)`): its cursor stays one position on one store (`<shard epoch>.<stream
  id>`, bounded and opaque as with one Redis), its resume is exact, and its user's order is
  that shard's stream order.

Every shard's copy of a topic or `everyone` entry would reach every local connection of
that topic, so a replica holding users of two shards would deliver it twice: each shard's
listener hands such entries to `deliver_shard` with its index, and the hub delivers them to
that shard's users only (a users target is already one shard's users).

A shard's loss is that shard's: its gaps (entries trimmed before a replica read them, a
replaced store) close only its users' connections (4010), whose cursors then answer
`complete: false`; a topic or everyone publish fails `UNAVAILABLE` while any shard is down
(a retry with the same id appends it only where it is missing). The first shard carries the
replicas' questions (presence, Disconnect). The operators' view: the replicas page.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Collection
from typing import Any

from gateway.log.address import Address
from gateway.log.base import (
    AppendResult,
    BackendUnavailable,
    Draft,
    Entry,
    GapScope,
    LogListener,
    NotificationLog,
    Replay,
    fingerprint,
)
from gateway.log.cursor import Cursor
from gateway.log.redis import RedisLog
from gateway.metrics import BackendStats
from gateway.models import UsersTarget

__all__ = ["ShardedLog", "shard_index"]


def shard_index(user_id: str, shards: int) -> int:
    """The shard of `user_id` among `shards`: CRC-32 of its UTF-8 bytes, the same in every
    process (Python's own hash is salted per process)."""
    return zlib.crc32(user_id.encode()) % shards


class _ShardListener:
    """What one shard hands its entries to: the replica's listener, told which shard."""

    __slots__ = ("_count", "_listener", "_shard")

    def __init__(self, listener: LogListener, shard: int, count: int) -> None:
        self._listener = listener
        self._shard = shard
        self._count = count

    def deliver(self, entry: Entry) -> int:
        if type(entry.target) is UsersTarget:  # this shard's users only, by construction
            return self._listener.deliver(entry)
        return self._listener.deliver_shard(entry, self._shard)

    def deliver_shard(self, entry: Entry, shard: int) -> int:
        return self._listener.deliver_shard(entry, shard)

    def gap(self, scope: GapScope) -> None:
        shard, count = self._shard, self._count

        def users(user_id: str) -> bool:
            return shard_index(user_id, count) == shard

        self._listener.gap(GapScope(f"shard {shard}: {scope.reason}", scope.addresses, users))

    def answer(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        return self._listener.answer(op, args)


class ShardedLog(NotificationLog):
    """Several `RedisLog`s, one per shard (see the module)."""

    def __init__(self, shards: list[RedisLog]) -> None:
        """`shards` in shard order; the first carries the replicas' questions, and all
        of them share one `BackendStats` (this log's)."""
        super().__init__()
        if len(shards) < 2:
            raise ValueError("a sharded log needs at least two shards")
        self._shards = shards
        self.shard_count = len(shards)
        self.stats = shards[0].stats
        self.peers = shards[0].peers

    @classmethod
    def of_urls(cls, urls: list[str], **options: Any) -> ShardedLog:
        """One `RedisLog` per URL, with `options` (prefix, retention, idempotency)."""
        stats = BackendStats()
        return cls(
            [RedisLog(url, stats=stats, control=i == 0, **options) for i, url in enumerate(urls)]
        )

    @classmethod
    def of_cluster(cls, url: str, count: int, *, prefix: str, **options: Any) -> NotificationLog:
        """`count` shards on the Redis Cluster `url` names, shard n under the hash tag
        `{<prefix>-<n>}` (a single `RedisLog` when `count` is 1)."""
        stats = BackendStats()
        shards = [
            RedisLog(url, prefix=f"{{{prefix}-{i}}}", stats=stats, control=i == 0, **options)
            for i in range(count)
        ]
        return shards[0] if count == 1 else cls(shards)

    @property
    def shards(self) -> list[RedisLog]:
        return self._shards

    def shard_index(self, user_id: str) -> int:
        return shard_index(user_id, len(self._shards))

    def shard(self, user_id: str) -> RedisLog:
        return self._shards[shard_index(user_id, len(self._shards))]

    @property
    def healthy(self) -> bool:
        """Ready while any shard answers: a shard's outage refuses its own users' connects
        (`shard(user_id).healthy`) and should not take every replica out of service.

        Counts the shards down into `stats.shards_down` as it goes: readiness and every
        scrape read this first, so the gauge is as fresh as `gateway_backend_up`."""
        down = sum(not shard.healthy for shard in self._shards)
        self.stats.shards_down = down
        return down < len(self._shards)

    async def start(self, listener: LogListener) -> None:
        await super().start(listener)
        count = len(self._shards)
        for i, shard in enumerate(self._shards):
            await shard.start(_ShardListener(listener, i, count))

    async def close(self) -> None:
        for shard in self._shards:
            await shard.close()

    def head(self) -> Cursor:
        """The first shard's head: a connection uses its own shard's (`shard(user_id)`)."""
        return self._shards[0].head()

    def watch(self, addresses: Collection[Address]) -> Awaitable[None]:
        """On every shard (a connection watches on its user's shard: `shard(user_id)`)."""
        waiting = [shard.watch(addresses) for shard in self._shards]

        async def confirmed() -> None:
            for each in waiting:
                await each

        return asyncio.ensure_future(confirmed())

    def unwatch(self, addresses: Collection[Address]) -> None:
        for shard in self._shards:
            shard.unwatch(addresses)

    async def read_since(self, since: Cursor, until: Cursor) -> Replay:
        """From the shard `since` names (a foreign cursor: the first shard, incomplete)."""
        for shard in self._shards:
            if shard.epoch and since.of(shard.epoch):
                return await shard.read_since(since, until)
        return await self._shards[0].read_since(since, until)

    async def append(self, drafts: list[Draft]) -> list[AppendResult]:
        """Each draft to its users' shards (a part of the target each) or to every shard
        (topic, everyone), all shards at once. Per draft: the cursor of its first user's
        shard (the first shard for a topic or everyone), the deliveries here summed, a
        conflict if any shard saw one, a duplicate if every shard already had it.

        A shard known to be down refuses the whole call before anything is appended; one
        that fails during it leaves the others' appends in place (the publisher's retry
        with the same id appends only where it is missing)."""
        count = len(self._shards)
        plans: list[list[tuple[int, Draft, bytes]]] = [[] for _ in range(count)]
        primary: list[int] = []
        for j, draft in enumerate(drafts):
            target = draft.target
            print_ = fingerprint(target, draft.body)
            if isinstance(target, UsersTarget):
                by_shard: dict[int, list[str]] = {}
                for user_id in target.user_ids:
                    by_shard.setdefault(shard_index(user_id, count), []).append(user_id)
                primary.append(shard_index(target.user_ids[0], count))
                if len(by_shard) == 1:
                    plans[primary[-1]].append((j, draft, print_))
                    continue
                for k, user_ids in by_shard.items():
                    part = UsersTarget.model_construct(user_ids=tuple(user_ids))
                    plans[k].append((j, draft._replace(target=part), print_))
            else:
                primary.append(0)
                for plan in plans:
                    plan.append((j, draft, print_))
        used = [k for k in range(count) if plans[k]]
        for k in used:  # a shard known down: refuse before any other shard appends
            if not self._shards[k].healthy:
                raise BackendUnavailable(f"Redis shard {k} is unreachable")
        replies = await asyncio.gather(
            *(
                self._shards[k].append([d for _, d, _ in plans[k]], [p for _, _, p in plans[k]])
                for k in used
            ),
            return_exceptions=True,
        )
        per_draft: list[dict[int, AppendResult]] = [{} for _ in drafts]
        for k, reply in zip(used, replies, strict=True):
            if isinstance(reply, BaseException):  # every shard's call has ended: raise
                raise reply
            for (j, _, _), result in zip(plans[k], reply, strict=True):
                per_draft[j][k] = result
        return [_combined(results, primary[j]) for j, results in enumerate(per_draft)]


def _combined(results: dict[int, AppendResult], primary: int) -> AppendResult:
    first = results[primary]
    if len(results) == 1:
        return first
    values = results.values()
    return AppendResult(
        first.cursor,
        sum(result.delivered for result in values),
        all(result.duplicate for result in values),
        any(result.conflict for result in values),
    )
