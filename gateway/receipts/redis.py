"""Receipts shared on Redis: any replica tracks, acks, sweeps and answers; they survive a
gateway restart (and a Redis restart, with its persistence on).

Every change is one script call (`redis_scripts`): a batch of publishes, a batch of acks
and reads, one deadline sweep. The feed is a stream whose IDs, behind the store's epoch,
are the watchers' cursors; each watcher reads it with its own `XREAD BLOCK`, so a watcher
on any replica sees every replica's updates. Failures raise `BackendUnavailable` and mark
the store unhealthy until a call succeeds again.
"""

from __future__ import annotations

import os
import time
from typing import Any

from gateway.log.base import BackendUnavailable
from gateway.log.redis_client import CONNECTION_ERRORS, connect
from gateway.log.redis_scripts import ENSURE_EPOCH
from gateway.receipts.marks import log_mark, sortable
from gateway.receipts.model import (
    Audience,
    Receipt,
    ReceiptUpdate,
    State,
    Tracked,
    UserReceipt,
    overall,
)
from gateway.receipts.redis_scripts import APPLY, EXPIRE, TRACK
from gateway.receipts.store import Ack, Applied, FeedPage, Read, ReadOutcome, ReceiptStore

__all__ = ["RedisReceiptStore"]

_STATES = {"p": State.PENDING, "d": State.DELIVERED, "r": State.READ, "x": State.UNDELIVERED}
_KINDS = {"u": "users", "t": "topic", "e": "everyone"}
#: Deadlines swept per call: a backlog is worked off over a few sweeps, never in one
#: call that would hold Redis up.
_SWEEP_BATCH = 1000


def _ms(seconds: float) -> str:
    return str(int(seconds * 1000))


def _seconds(ms: bytes | str | None) -> float | None:
    return int(ms) / 1000 if ms else None


class RedisReceiptStore(ReceiptStore):
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "gateway",
        max_tracked: int = 100_000,
        max_age: float = 86_400.0,
        max_counted_users: int = 10_000,
        feed_size: int = 100_000,
    ) -> None:
        self._p = f"{prefix}:rc"
        self._max_tracked = max_tracked
        self._max_age = max_age
        self._max_counted = max_counted_users
        self._feed_size = feed_size
        self._ttl = int(max_age) + 60
        replica = os.urandom(6).hex()
        self._client = connect(url, read_timeout=2.0, name=f"gateway-{replica}-rc")
        #: Watchers block on their own connections of this client's pool.
        self._reader = connect(url, read_timeout=5.0, name=f"gateway-{replica}-rcw")
        self._track = self._client.register_script(TRACK)
        self._apply = self._client.register_script(APPLY)
        self._expire = self._client.register_script(EXPIRE)
        self._ensure_epoch = self._client.register_script(ENSURE_EPOCH)
        self._epoch = ""
        self._up = True

    @property
    def healthy(self) -> bool:
        return self._up

    async def close(self) -> None:
        await self._client.aclose()
        await self._reader.aclose()

    def _head(self) -> list[Any]:
        return [self._p, _ms(time.time()), self._ttl, self._feed_size]

    async def _call(self, call: Any) -> Any:
        try:
            reply = await call
        except CONNECTION_ERRORS as exc:
            self._up = False
            raise BackendUnavailable(f"Redis is unreachable: {exc}") from None
        self._up = True
        return reply

    async def track(self, items: list[Tracked]) -> list[tuple[float, str]]:
        args: list[Any] = [*self._head(), self._max_tracked, int(self._max_age * 1000)]
        args.append(self._max_counted)
        for item in items:
            args += (
                item.notification_id,
                sortable(log_mark(item.cursor)),
                item.kind[0],
                item.topic,
                item.type,
                item.cursor,
                "" if item.deadline is None else _ms(item.deadline),
                ",".join(item.users),
            )
        reply = await self._call(self._track(args=args))
        # acks that overtook this TRACK (another replica's client was quicker): delivered
        # when they came; each (ack ms, the item's place in `items`)
        early = []
        for i in range(0, len(reply), 2):
            item = items[int(reply[i + 1])]
            early.append((max(0.0, int(reply[i]) / 1000 - item.published_at), item.type))
        return early

    async def apply(self, acks: list[Ack], reads: list[Read], now: float) -> Applied:
        args: list[Any] = [self._p, _ms(now), self._ttl, self._feed_size]
        args += (self._max_counted, len(acks))
        for ack in acks:
            args += (ack.user_id, ",".join(ack.topics), sortable(ack.floor), sortable(ack.upto))
        for read in reads:
            args += (read.user_id, ",".join(read.topics), read.notification_id)
        reply = await self._call(self._apply(args=args))
        published = [(int(reply[i]) / 1000, reply[i + 1].decode()) for i in range(1, len(reply), 2)]
        return Applied(published, int(reply[0]))

    async def read(
        self, user_id: str, topics: frozenset[str], notification_id: str, now: float
    ) -> ReadOutcome:
        applied = await self.apply([], [Read(user_id, topics, notification_id)], now)
        return ReadOutcome.REFUSED if applied.refused else ReadOutcome.COUNTED

    async def expire(self, now: float) -> int:
        args: list[Any] = [self._p, _ms(now), self._ttl, self._feed_size, _SWEEP_BATCH]
        return int(await self._call(self._expire(args=args)))

    async def get(self, ids: list[str]) -> list[Receipt]:
        pipe = self._client.pipeline(transaction=False)
        for nid in ids:
            pipe.hgetall(f"{self._p}:n:{nid}")
            pipe.scard(f"{self._p}:a:{nid}")
            pipe.scard(f"{self._p}:r:{nid}")
        replies = await self._call(pipe.execute())
        return [
            _receipt(nid, replies[3 * i], replies[3 * i + 1], replies[3 * i + 2])
            for i, nid in enumerate(ids)
        ]

    def is_feed_cursor(self, text: str) -> bool:
        epoch, dot, sid = text.partition(".")
        ms, dash, n = sid.partition("-")
        return bool(epoch and dot and dash) and (ms + n).isascii() and (ms + n).isdigit()

    async def read_feed(self, after: str | None, wait: float, limit: int) -> FeedPage:
        if not self._epoch:
            candidate = os.urandom(4).hex()
            epoch = await self._call(self._ensure_epoch(keys=[f"{self._p}:e"], args=[candidate]))
            self._epoch = epoch.decode()
        stream = f"{self._p}:f"
        if after is None:
            last = await self._call(self._client.xrevrange(stream, "+", "-", count=1))
            return FeedPage([], f"{self._epoch}.{last[0][0].decode() if last else '0-0'}")
        epoch, _, sid = after.partition(".")
        complete = True
        if epoch != self._epoch:
            sid, complete = "0-0", False
        elif await self._call(self._client.exists(stream)):
            # the feed is trimmed from its oldest end: complete while `sid` is not older
            # than the oldest entry kept, or nothing was ever trimmed (Redis 7 counts
            # what was added); a `sid` that was itself the last trimmed reads incomplete
            info = await self._call(self._client.xinfo_stream(stream))
            first = info.get("first-entry")
            trimmed = int(info.get("entries-added", 0)) > int(info.get("length", 0))
            if trimmed and first and _sid(sid) < _sid(first[0].decode()):
                complete = False
        block = int(wait * 1000) if wait > 0 else None
        reply = await self._call(self._reader.xread({stream: sid}, count=limit, block=block))
        rows = reply[0][1] if reply else []
        updates = [self._update(raw_sid, fields) for raw_sid, fields in rows]
        cursor = updates[-1].cursor if updates else f"{self._epoch}.{sid}"
        return FeedPage(updates, cursor, complete)

    def _update(self, sid: bytes, fields: dict[bytes, bytes]) -> ReceiptUpdate:
        return ReceiptUpdate(
            f"{self._epoch}.{sid.decode()}",
            fields[b"i"].decode(),
            fields[b"y"].decode(),
            fields[b"u"].decode(),
            State(fields[b"s"].decode()),
            int(fields[b"t"]) / 1000,
        )


def _sid(text: str) -> tuple[int, int]:
    ms, _, n = text.partition("-")
    return int(ms or 0), int(n or 0)


def _receipt(nid: str, fields: dict[bytes, bytes], acked: int, read: int) -> Receipt:
    if not fields:
        return Receipt(nid, State.UNKNOWN)
    kind = fields[b"k"].decode()
    users = []
    for name, value in fields.items():
        if name.startswith(b"u:"):
            state, delivered, read_at, undelivered = value.decode().split("|")
            users.append(
                UserReceipt(
                    name[2:].decode(),
                    _STATES[state],
                    _seconds(delivered),
                    _seconds(read_at),
                    _seconds(undelivered),
                )
            )
    audience = None if kind == "u" else Audience(acked, read, b"cap" in fields)
    user_receipts = tuple(users)
    return Receipt(
        nid,
        overall(user_receipts, audience),
        fields[b"y"].decode(),
        _KINDS[kind],
        fields[b"c"].decode(),
        _seconds(fields[b"p"]),
        _seconds(fields.get(b"d")),
        user_receipts,
        audience,
    )
