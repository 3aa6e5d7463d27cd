"""One connected client, whatever its transport: `Connection`.

A connection owns its identity (`user_id`), what it follows (`topics`, a frozenset only
the hub replaces), what its token allows (`grant`) and until when (its expiry timer), its
outgoing buffer, its liveness (`heard`) and its count of bad client frames. Its transport
(transport.py) is a small adapter that only moves bytes. Nothing sets state onto a
connection from outside: the edges and the service call its methods.

The outgoing side, and why it is shaped so:

- The fan-out calls `send(item)` for every recipient; it never awaits and never writes.
  It queues the item's frame for this connection's transport kind (`item.ws`, or the
  cached `item.sse()`), which every recipient of that kind shares, so queuing costs a
  pointer; the `FlushScheduler` (flush.py) then calls `flush()`, which writes them in one
  call: at the end of the tick, or a few milliseconds later while publishes stream in.
- Once the transport's response head is out (the first write goes through the transport,
  which puts its 101 or 200 in front), flushes write straight to its byte stream
  (`transport.sink()`, the asyncio transport): a flush is then the same three C calls it
  was before there was more than one transport.
- The slow-reader rule: when new items are due and the transport still holds more than
  `limit` bytes the kernel would not take from earlier writes, the reader has fallen
  behind and is closed with 4008 instead of being waited for. A burst that arrives in one
  flush is never held against a client that keeps up, and a stalled client's memory stays
  below `limit` plus one flush's items (flush.py bounds those).
- A replay can be far larger than `limit`, so it is not queued at once: `start()` writes it
  as the transport drains, a batch each time the transport resumes writing (`pause` /
  `resume`), framing each item only then. Live items wait behind it; if they pass `limit`
  the reader has fallen behind as above. A stalled resuming client holds at most a batch
  plus `limit`, however long its replay.
- Until `start()`, the connection is *held*: live items queue but nothing is written (the
  welcome and the replay go first, and the transport's response head with them).

Everything every connection shares (the scheduler, the limits, the way out of the hub) is
one `ConnectionContext`, so an idle connection pays one pointer for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.closecodes import CloseCode
from gateway.connection.outgoing import PING, Outgoing, frame_cursor
from gateway.connection.transport import Sink, Transport
from gateway.log.cursor import Cursor
from gateway.metrics import Metrics

if TYPE_CHECKING:
    from gateway.connection.grants import TopicGrant
    from gateway.flush import FlushScheduler

__all__ = [
    "MAX_BAD_FRAMES",
    "REPLAY_BATCH_BYTES",
    "Connection",
    "ConnectionContext",
    "SseConnection",
    "connection_for",
]

log = logging.getLogger("gateway.connection")

#: Bad client frames (or ops) tolerated on one connection before it is closed with 1008.
MAX_BAD_FRAMES = 10
#: Replay items are handed to the transport in batches of about this many bytes.
REPLAY_BATCH_BYTES = 64 * 1024
#: The topics of every connection that follows none: one shared object, not a set each.
_NO_TOPICS: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ConnectionContext:
    """What every connection of a gateway shares: passed to each, held by reference."""

    scheduler: FlushScheduler
    #: Bytes a transport may hold unsent before its reader counts as too slow.
    limit: int
    #: Takes a connection out of live delivery (the service's `detach`).
    detach: Callable[[Connection], None]
    metrics: Metrics


class _Backlog:
    """A replay being written as the transport drains, and what waits behind it."""

    __slots__ = ("items", "paused", "waiting")

    def __init__(self, items: Iterator[Outgoing]) -> None:
        self.items = items
        #: The transport asked us to stop writing (its buffer is over its high-water mark).
        self.paused = False
        #: Bytes of live frames queued behind the replay.
        self.waiting = 0


class Connection:
    """One client: who it is, what it follows and may follow, what it is owed."""

    __slots__ = (
        "_acked",
        "_backlog",
        "_bad",
        "_context",
        "_expiry",
        "_pending",
        "_sent",
        "_sink",
        "_transport",
        "_ws",
        "closed",
        "grant",
        "heard",
        "held",
        "topics",
        "user_id",
    )

    def __init__(
        self,
        user_id: str,
        topics: Iterable[str],
        transport: Transport,
        context: ConnectionContext,
        grant: TopicGrant | None = None,
    ) -> None:
        self.user_id = user_id
        self.topics: frozenset[str] = frozenset(topics) or _NO_TOPICS
        #: The topics the token allows; None: any topic. Changed by `refresh` only.
        self.grant = grant
        self._transport = transport
        #: The transport's byte stream, once its response head is out (see the module doc).
        self._sink: Sink | None = None
        #: Whether items are framed for WebSocket (else SSE).
        self._ws = transport.kind == "ws"
        self._context = context
        #: The frames queued for the next flush (shared bytes objects).
        self._pending: list[bytes] = []
        #: The replay still being written; None when there is none (or no more).
        self._backlog: _Backlog | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._bad = 0
        self.closed = False
        #: Until `start()`: items gather but nothing is written.
        self.held = True
        #: Whether the client sent anything since the last heartbeat.
        self.heard = True
        # receipts (issue 17): None while receipts are off, and then nothing is noted
        #: The cursor acks count after: where the connection started, then its last ack.
        self._acked: Cursor | None = None
        #: The last notification written (its cursor's text as flushed, parsed by the
        #: first ack after it and kept parsed); noted once per write, never per item.
        self._sent: str | Cursor | None = None

    @property
    def transport(self) -> Transport:
        return self._transport

    # -- the outgoing side ---------------------------------------------------------------

    def send(self, item: Outgoing) -> None:
        """Queue one item for the next flush. Never blocks, never writes.

        The fan-out calls this once per recipient: it reads `item.ws` without asking the
        transport's kind (SSE connections are `SseConnection`s, whose `send` reads
        `item.sse()`); that check cost a broadcast ~10% of its Python time per delivery.
        """
        if self.closed:
            return
        backlog = self._backlog
        if not self._pending and not self.held and backlog is None:
            self._context.scheduler.mark(self)
        frame = item.ws
        self._pending.append(frame)
        if backlog is not None:
            self._behind_replay(len(frame))

    def _behind_replay(self, size: int) -> None:
        """A live frame of `size` bytes queued behind the replay being written."""
        backlog = self._backlog
        if backlog is not None:
            backlog.waiting += size
            limit = self._context.limit
            if backlog.waiting > limit >= backlog.waiting - size:
                self._context.scheduler.mark(self)  # judged at the tick's end, like live items

    def pending_bytes(self) -> int:
        """Bytes queued for the next flush (the scheduler samples one connection per flush)."""
        return sum(map(len, self._pending))

    def start(self, first: list[Outgoing], replay: Iterator[Outgoing] | None = None) -> None:
        """Put `first` ahead of everything queued so far, then stop holding.

        With `replay`, `first` is written at once and the replay after it as the transport
        drains; items queued meanwhile go out when the replay is done.
        """
        if self.closed:
            return
        if replay is None:
            self._pending[:0] = self._frames(first)
            self.held = False
            if self._pending:
                self._context.scheduler.mark(self)
            return
        if self._transport.is_closing():
            self._discard()
            return
        self.held = False
        self._backlog = _Backlog(replay)  # before writing: the write may pause us
        self._transport.write(self._frames(first))
        self._sink = self._transport.sink()
        self._pump()

    def pause(self) -> None:
        """The transport's buffer is over its high-water mark: stop writing the replay."""
        if self._backlog is not None:
            self._backlog.paused = True

    def resume(self) -> None:
        """The transport has drained: write more of the replay."""
        if self._backlog is not None:
            self._backlog.paused = False
            self._pump()

    def _frames(self, items: list[Outgoing]) -> list[bytes]:
        if self._ws:
            return [item.ws for item in items]
        return [item.sse() for item in items]

    def _pump(self) -> None:
        """Write replay items until the transport pauses us or the replay ends."""
        backlog = self._backlog
        if backlog is None or self.closed:
            return
        transport = self._transport
        if transport.is_closing():
            self._discard()
            return
        ws = self._ws
        while not backlog.paused:
            batch: list[bytes] = []
            size = 0
            last: Outgoing | None = None
            for last in backlog.items:
                frame = last.ws if ws else last.sse()
                batch.append(frame)
                size += len(frame)
                if size >= REPLAY_BATCH_BYTES:
                    break
            if not batch:  # the replay is out: live items follow
                self._backlog = None
                if self._pending:
                    self._context.scheduler.mark(self)
                return
            transport.write(batch)
            if self._acked is not None and last is not None and last.cursor is not None:
                self._sent = last.cursor  # receipts: the replay's items are notifications

    def flush(self) -> None:
        """Write what is pending in one call (called by the scheduler)."""
        if self.closed or self.held or not self._pending:
            return
        backlog = self._backlog
        if backlog is not None:  # live items wait for the replay
            if backlog.waiting > self._context.limit:
                self._too_slow()
            return
        sink = self._sink
        if sink is None:  # the first write (nothing is buffered yet): through the transport,
            # which puts its response head in front (and writes nothing once closing)
            frames = self._pending
            self._pending = []
            transport = self._transport
            transport.write(frames)
            self._sink = transport.sink()
            if self._acked is not None:
                self._note(frames)
            return
        if sink.is_closing():
            self._discard()
            return
        if sink.get_write_buffer_size() > self._context.limit:
            self._too_slow()
            return
        frames = self._pending
        self._pending = []
        sink.writelines(frames)
        if self._acked is not None:  # receipts: once per write, not per item queued
            self._note(frames)

    # -- receipts (issue 17) -----------------------------------------------------------------

    def _note(self, frames: list[bytes]) -> None:
        for frame in reversed(frames):
            cursor = frame_cursor(frame)
            if cursor is not None:
                self._sent = cursor
                return

    def acks_from(self, start: Cursor) -> None:
        """Receipts are on: acks count for what this connection is written after `start`
        (the head it joined at, or the cursor its complete replay resumed after)."""
        self._acked = start

    def ack_span(self, cursor: Cursor) -> tuple[Cursor, Cursor] | None:
        """The range `(after, cursor]` a cumulative ack covers, or None when it covers
        nothing this connection was written: receipts off, nothing written yet, `cursor`
        beyond the last notification written, or not after the previous ack."""
        after, sent = self._acked, self._sent
        if after is None or sent is None:
            return None
        last = Cursor.parse(sent) if isinstance(sent, str) else sent
        if last is None or cursor.after(last) or not cursor.after(after):
            return None
        self._sent = last
        self._acked = cursor
        return after, cursor

    # -- liveness, bad input, token terms ---------------------------------------------------

    def heard_from(self) -> None:
        """The client sent something: it is alive."""
        self.heard = True

    def beat(self) -> bool:
        """The heartbeat's visit: ping a client heard from since the last visit (or keep an
        SSE stream open), drop one that stayed silent. False if it was dropped."""
        if self.closed:
            return True
        if self.heard or not self._transport.answers_pings:
            self.heard = False
            self.send(PING)
            return True
        self.abort()
        return False

    def bad_frame(self) -> None:
        """The client sent something it may not (its error is queued): at MAX_BAD_FRAMES it
        is closed with 1008."""
        self._context.metrics.bad_client_frames += 1
        self._bad += 1
        if self._bad >= MAX_BAD_FRAMES:
            self.close(CloseCode.POLICY_VIOLATION, "too many bad frames")

    def expire_at(self, expiry: float, grant: TopicGrant | None) -> None:
        """(Re)set the token's terms: closed with 4001 at `expiry` (Unix time); `grant` is
        what it may follow from now on (the caller drops what it no longer allows)."""
        self.grant = grant
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = asyncio.get_running_loop().call_later(
            max(0.0, expiry - time.time()), self.close, CloseCode.TOKEN_EXPIRED, "token expired"
        )

    # -- the end ------------------------------------------------------------------------------

    def close(self, code: int, reason: str) -> None:
        """Close from the server side (Disconnect, gap, expiry, slow reader, drain).

        It leaves live delivery at once (presence stops counting it); what was queued goes
        out before the transport's close. A connection still held has not sent its
        response head, so nothing may follow: it is dropped instead.
        """
        if self.closed:
            return
        self._context.detach(self)
        if self.end():
            self._transport.close(code, reason)

    def end(self) -> bool:
        """Stop: what is queued goes out first (unless still held), nothing more after.

        For a transport that ends on its own side (a client's close frame, a protocol
        error): True if the transport may still write its last words, False if it was
        dropped (a held connection must not write before its response head).
        """
        if self.closed:
            return False
        self._cancel_expiry()
        if self.held:
            self._discard()
            self._transport.abort()
            return False
        self.flush()
        if self.closed:  # the flush found the reader too slow
            return False
        self._discard()
        return True

    def refuse(self, code: int, reason: str) -> None:
        """End a connect whose start failed after it joined live delivery (its replay could
        not be read): the response head and the close, and none of the live items queued
        meanwhile. A resuming client given those would take its cursor from them, and its
        next resume would skip the range that was never replayed (issue 15, fault path 1)."""
        if self.closed:
            return
        self._pending = []
        self.start([])
        self.close(code, reason)

    def abort(self) -> None:
        """Drop the connection at once, unsent items and all (a peer that stopped answering)."""
        self._context.detach(self)
        self._cancel_expiry()
        self._discard()
        self._transport.abort()

    def release(self) -> None:
        """The transport is gone: out of live delivery, timers cancelled, nothing kept."""
        self._context.detach(self)
        self._cancel_expiry()
        self._discard()

    def _too_slow(self) -> None:
        context = self._context
        context.metrics.slow_clients_closed += 1
        log.warning(
            "closing a slow client: send buffer over %d bytes",
            context.limit,
            extra={"user_id": self.user_id, "close_code": int(CloseCode.TOO_SLOW)},
        )
        context.detach(self)
        self._cancel_expiry()
        self._discard()  # what is queued is dropped: the reader could not take it
        self._transport.close(CloseCode.TOO_SLOW, "too slow: send buffer overflow")

    def _cancel_expiry(self) -> None:
        # the timer refers back to this connection: no cycle may outlive it (gc_policy.py)
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _discard(self) -> None:
        self.closed = True
        self._pending = []
        self._backlog = None
        self._sink = None


class SseConnection(Connection):
    """A connection whose transport is an SSE stream: the same object, framing with
    `item.sse()` (see `Connection.send` for why this is a subclass and not a check)."""

    __slots__ = ()

    def send(self, item: Outgoing) -> None:
        if self.closed:
            return
        backlog = self._backlog
        if not self._pending and not self.held and backlog is None:
            self._context.scheduler.mark(self)
        frame = item.sse()
        self._pending.append(frame)
        if backlog is not None:
            self._behind_replay(len(frame))


def connection_for(
    user_id: str,
    topics: Iterable[str],
    transport: Transport,
    context: ConnectionContext,
    grant: TopicGrant | None = None,
) -> Connection:
    """The connection of a client on `transport`, of the class for its kind."""
    kind = SseConnection if transport.kind == "sse" else Connection
    return kind(user_id, topics, transport, context, grant)
