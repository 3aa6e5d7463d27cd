"""What one replica receives from the Redis log: only what its connections need, in order.

Live: one pub/sub connection (`redis_link`: SUBSCRIBE, or SSUBSCRIBE on the node of a
Redis Cluster that owns the log's hash tag) subscribed to the channel of every address
this replica holds. The append script publishes each entry on its addresses' channels in
the call that adds it to the stream, and Redis sends one connection's messages in script
order: entries arrive in stream order, and a replica holding none of an entry's addresses
is not sent it.

Position: the newest stream id accounted for. It moves with each entry delivered and with
each *barrier*: read the stream's end `H` (on another connection), then PING the pub/sub
connection; every entry up to `H` was published before the PING, so at the PONG all of
them addressed here have been delivered. `confirm` (a watch) subscribes, waits for the
confirmation, then runs a barrier: later entries to those addresses come live, earlier
ones are at or before `head()`. A barrier every `TICK` keeps an idle replica's position
recent and proves the connection alive.

Breaks: pub/sub is at most once, and Redis drops a subscriber only by closing its
connection. After any break the feed reconnects, subscribes again and reads the stream
from its position to the end (delivering what is held here) before it goes live again,
skipping what it delivered. Trimmed entries it owed, or a replaced store, are a gap.
Unsubscribing is lazy and bounded (`redis_interest`). The operators' view: the replicas
page of the docs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Collection
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from gateway.log.address import Address
from gateway.log.base import NO_LISTENER, BackendUnavailable, GapScope, LogListener
from gateway.log.redis_client import CONNECTION_ERRORS
from gateway.log.redis_codec import Channels, entry_of, parse_message, stream_key
from gateway.log.redis_interest import Interest
from gateway.log.redis_link import PubSubLink, pong_token
from gateway.log.redis_position import Key, Position
from gateway.log.redis_scripts import HEAD
from gateway.log.rounds import SharedRounds
from gateway.metrics import BackendStats
from gateway.tasks import cancel_and_wait, cancel_surely

__all__ = ["LINGER", "RedisFeed"]

log = logging.getLogger("gateway.redis")

#: Seconds an address no connection here holds stays subscribed.
LINGER = 10.0
#: The most addresses kept subscribed after their last connection left.
MAX_LINGERING = 10_000
#: Seconds between barriers on an idle feed (position, liveness, lingering sweep).
TICK = 2.0
#: Seconds a PING may go unanswered before the connection counts as dead.
PONG_WAIT = 5.0
#: Channels per SUBSCRIBE / UNSUBSCRIBE command.
_BATCH = 512
#: Stream entries per XRANGE while catching up (bounds memory).
_READ_BATCH = 1000
_MAX_BACKOFF = 2.0


class RedisFeed:
    """This replica's subscriptions, position and reader (see the module)."""

    def __init__(
        self,
        url: str,
        prefix: str,
        replica: str,
        stats: BackendStats,
        writer: Redis | RedisCluster,
    ) -> None:
        """`writer`: the log's client; a `RedisCluster` makes this a sharded pub/sub feed."""
        self._log_key = f"{prefix}:log"
        cluster = writer if isinstance(writer, RedisCluster) else None
        name = f"gateway-{replica}-s"
        self._link = PubSubLink(url, name, PONG_WAIT + 2.0, cluster=cluster, key=self._log_key)
        self._writer = writer
        self._head_script = writer.register_script(HEAD)
        self._head_keys = [self._log_key, f"{prefix}:epoch"]
        self.channels = Channels(prefix)
        self._stats = stats
        self._listener: LogListener = NO_LISTENER
        self._interest = Interest(LINGER, MAX_LINGERING)
        self._conn: Any = None
        #: Whether the feed is caught up and reading live messages.
        self.live = False
        #: Whether Redis answered the last call (readiness); appends report failures too.
        self.up = False
        self.epoch = ""
        #: How far the stream is accounted for; appends wait on it (`redis_position`).
        self.at = Position()
        self._task: asyncio.Task[None] | None = None
        self._session: asyncio.Task[None] | None = None
        self._went_live = False
        self._confirming: set[asyncio.Future[None]] = set()
        #: Barrier rounds, one at a time, each serving every caller waiting when it began.
        self._rounds = SharedRounds()
        #: A restart asked for by `restart()`, and set when the feed is live again after it.
        self._restarting = False
        self._back = asyncio.Event()

    # -- life cycle

    def start(self, listener: LogListener) -> None:
        self._listener = listener
        self._task = asyncio.create_task(self._run(), name="redis-feed")

    async def close(self) -> None:
        await cancel_and_wait(self._task)  # not task.cancel(): see gateway/tasks.py
        await self._link.close()

    def restart(self) -> None:
        """Reconnect now (the store was replaced): the catch-up reports the gap."""
        if self._session is not None and not self._restarting:
            self._restarting = True
            self._back.clear()
            cancel_surely(self._session)

    def down(self, exc: BaseException) -> None:
        """A call to Redis failed: not ready until one succeeds again."""
        if self.up:
            log.warning("Redis unreachable: %s", exc or type(exc).__name__)
        self.up = False

    # -- interest

    def hold(self, addresses: Collection[Address]) -> list[bytes]:
        """Count one more holder of each of `addresses`; the channels not subscribed yet.

        Synchronous, so holds and releases (`unwatch`) always pair up, whatever happens
        to the confirmation that follows.
        """
        return self._interest.hold(map(self.channels.of, addresses))

    def confirming(self, new: list[bytes]) -> asyncio.Future[None]:
        """`confirm` running on its own: awaited by a connection's attach, left to finish by
        a topic subscribe (a failure there needs nothing: a reconnection subscribes)."""
        task = asyncio.ensure_future(self.confirm(new))
        self._confirming.add(task)
        task.add_done_callback(self._confirmed)
        return task

    def _confirmed(self, task: asyncio.Future[None]) -> None:
        self._confirming.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here, whether or not anyone awaited it

    async def confirm(self, new: list[bytes]) -> None:
        """Subscribe `new` and run a barrier (see the module); `BackendUnavailable` if the
        feed is down (the channels are subscribed when it reconnects). A feed restarting
        for a replaced store is waited for (briefly) and the barrier run again."""
        try:
            await self._barrier(new)
        except BackendUnavailable:
            if not self._restarting:
                raise
            try:
                async with asyncio.timeout(PONG_WAIT):
                    await self._back.wait()
            except TimeoutError:
                raise BackendUnavailable("Redis is unreachable: the live feed restarts") from None
            await self._barrier(new)  # subscribed again by the new session if it was new

    def unwatch(self, addresses: Collection[Address]) -> None:
        self._interest.release(map(self.channels.of, addresses), time.monotonic())

    def holds(self, raw_target: bytes) -> bool:
        """Whether an entry to this encoded target is delivered here."""
        refs = self._interest.refs
        return any(refs.get(channel) for channel in self.channels.of_target(raw_target))

    # -- barriers

    async def _barrier(self, new: list[bytes] = []) -> None:  # noqa: B006 - never mutated
        """Subscribe `new`, then move the position to the stream's end (see the module).

        Barriers are shared: one round at a time serves every caller that had sent its
        SUBSCRIBE before the round began (a connect storm costs a few rounds, not one each).
        """
        conn = self._conn
        if conn is None or not self.live:
            raise BackendUnavailable("Redis is unreachable: the live feed is reconnecting")
        if new:
            for i in range(0, len(new), _BATCH):
                await self._link.send(conn, self._link.subscribe, *new[i : i + _BATCH])
            self._stats.subscriptions = len(self._interest.subscribed)
        await self._rounds.join(lambda: self._round(conn))

    async def _round(self, conn: Any) -> None:
        await self._link.ping(conn, PONG_WAIT)  # the SUBSCRIBEs sent before it are confirmed
        epoch, sid, seq = await self._head()
        if epoch != self.epoch:  # flushed or replaced under a live connection
            self.restart()
            raise BackendUnavailable("the Redis store was replaced: the live feed restarts")
        self._stats.follower_lag_entries = max(0, seq - (self.at.seq or seq))
        await self._link.ping(conn, PONG_WAIT)  # what was appended up to `sid` is delivered
        self.at.advance(sid, seq)

    async def _head(self) -> tuple[str, str, int]:
        try:
            reply = await self._head_script(keys=self._head_keys, args=[os.urandom(4).hex()])
        except CONNECTION_ERRORS as exc:
            self._stats.errors += 1
            self.down(exc)
            raise BackendUnavailable(f"Redis is unreachable: {exc}") from None
        return reply[0].decode(), reply[1].decode(), int(reply[2])

    # -- the reader

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            self._went_live = False
            session = self._session = asyncio.create_task(self._read())
            try:
                await asyncio.wait([session])  # close() cancels this task, not the session
            finally:
                cancel_surely(session)
                await self._end_session()
            error = None if session.cancelled() else session.exception()
            if error is None:
                error = BackendUnavailable("the live feed went quiet or the store changed")
            elif not isinstance(error, (*CONNECTION_ERRORS, BackendUnavailable)):
                # e.g. a transport error from inside redis-py: reconnect all the same
                log.error("the Redis live feed failed: %r; reconnecting", error)
            self._stats.errors += 1
            if self._went_live:
                backoff = 0.1
            if self.up or backoff == 0.1:
                log.warning("Redis live feed interrupted, reconnecting: %s", error or type(error))
            self.up = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _end_session(self) -> None:
        self.live = False
        conn, self._conn = self._conn, None
        self._link.dropped()
        self._rounds.stop(BackendUnavailable("the live feed reconnects"))
        self._interest.disconnected()
        self._stats.subscriptions = 0
        if conn is not None:
            await self._link.release(conn)

    async def _read(self) -> None:
        """One connection's life: subscribe, catch up from the stream, then read live."""
        link = self._link
        conn = self._conn = await link.open()
        channels = self._interest.reconnected()
        for i in range(0, len(channels), _BATCH):
            await conn.send_command(link.subscribe, *channels[i : i + _BATCH], check_health=False)
        token = os.urandom(8).hex().encode()
        await conn.send_command("PING", token, check_health=False)
        early: list[tuple[bytes, bytes]] = []  # live messages that came before the catch-up
        while True:
            reply = await conn.read_response(timeout=PONG_WAIT)
            if reply is None:
                raise BackendUnavailable("Redis did not confirm the live feed's subscriptions")
            if pong_token(reply) == token:
                break
            if reply[0] == link.message:
                early.append((reply[1], reply[2]))
        self._stats.subscriptions = len(channels)
        await self._catch_up()
        self.live = self.up = self._went_live = True
        self._restarting = False
        self._back.set()
        for channel, data in early:
            self._message(channel, data)
        ticker = asyncio.create_task(self._tick(conn))
        try:
            read, message = conn.read_response, link.message
            while True:
                reply = await read(timeout=math.inf)
                if type(reply) is list and reply[0] == message:
                    self._message(reply[1], reply[2])
                    continue
                if (
                    not link.answered(reply)
                    and reply[0] == b"sunsubscribe"
                    and reply[1] in self._interest.subscribed
                ):
                    # a cluster moved the shard's slot (failover, resharding): reconnect
                    raise BackendUnavailable("the log's Redis Cluster slot moved")
        finally:
            cancel_surely(ticker)

    async def _tick(self, conn: Any) -> None:
        """Every `TICK` seconds: a barrier (or the connection is dropped) and a sweep."""
        while True:
            await asyncio.sleep(TICK)
            try:
                await self._barrier()
                self.up = True
                await self._sweep(conn)
            except (BackendUnavailable, *CONNECTION_ERRORS) as exc:
                log.info("the live feed's barrier failed: %s", exc)
                cancel_surely(self._session)
                return

    async def _sweep(self, conn: Any) -> None:
        """Unsubscribe addresses nobody here has held for `LINGER` seconds (bounded)."""
        gone = self._interest.expired(time.monotonic())
        self._stats.subscriptions = len(self._interest.subscribed)
        for i in range(0, len(gone), _BATCH):
            await self._link.send(conn, self._link.unsubscribe, *gone[i : i + _BATCH])

    # -- entries

    def _message(self, channel: bytes, data: bytes) -> None:
        """One live message: delivered unless nobody here holds it or it came already."""
        stats = self._stats
        stats.followed += 1
        if not self._interest.refs.get(channel):
            stats.unaddressed += 1
            return
        sid, fields = parse_message(data)
        key = stream_key(sid)
        if key <= self.at.key:
            return  # delivered already: by the catch-up, or through another address
        self._deliver(sid, key, fields)

    def _deliver(self, sid: bytes, key: Key, fields: dict[bytes, bytes]) -> None:
        count = self._listener.deliver(entry_of(self.epoch, sid, fields))
        stats = self._stats
        if not count:
            stats.unaddressed += 1
        stats.follower_lag_seconds = max(0.0, time.time() - key[0] / 1000)
        self.at.delivered(key, sid.decode(), int(fields[b"s"]), count)

    async def _catch_up(self) -> None:
        """Read the stream from the position to its end, delivering what is held here.

        The first connection (or a new store) starts at the end. A jump in sequence
        numbers right after the position means entries it owed were trimmed: a gap.
        """
        at = self.at
        epoch, end, end_seq = await self._head()
        if epoch != self.epoch or at.seq is None:
            if self.epoch:
                log.warning(
                    "Redis store replaced (epoch %s -> %s): clients resume", self.epoch, epoch
                )
                self._gap("the Redis store was replaced")
            self.epoch = epoch
            at.set(stream_key(end), end, end_seq)
            return
        if end_seq < at.seq or stream_key(end) < at.key:
            self._gap("the Redis log went back (a failover lost entries)")
            at.set(stream_key(end), end, end_seq)
            return
        end_key = stream_key(end)
        holds = self.holds
        while at.key < end_key:
            self._stats.catchup_reads += 1
            rows: Any = await self._writer.xrange(
                self._log_key, f"({at.sid}", end, count=_READ_BATCH
            )
            if not rows or int(rows[0][1][b"s"]) != at.seq + 1:
                log.warning(
                    "entries trimmed before this replica read them: closing its clients (4010)",
                    extra={"after": at.sid, "expected_seq": at.seq + 1},
                )
                self._gap("entries were trimmed before this replica read them")
                at.set(end_key, end, end_seq)
                return
            for raw_sid, fields in rows:
                key = stream_key(raw_sid)
                if holds(fields[b"t"]):
                    self._deliver(raw_sid, key, fields)
                else:
                    at.set(key, raw_sid.decode(), int(fields[b"s"]))

    def _gap(self, reason: str) -> None:
        self._stats.gaps += 1
        self._listener.gap(GapScope(reason))
