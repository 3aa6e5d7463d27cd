"""The outgoing side of a connection: `Outbox`, the base class of `Connection`.

It exists apart from connection.py because it is the one part of a connection on the
publish path's hot loop, with rules of its own (below); the connection adds who the client
is, what it follows, its liveness and its token's terms, and how it ends. One object per
client still (shapes.md, section 1): `Connection` subclasses this, so a connection pays no
extra pointer for the split. Shaped so:

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
- Receipts (issue 17) need to know the last notification written: noted once per write,
  never per item, and only while receipts are on (`_note`, and what acks may cover: its
  base class `AckWindow`, acks.py).

Everything every connection shares (the scheduler, the limits, the way out of the hub) is
one `ConnectionContext`, so an idle connection pays one pointer for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.connection.acks import AckWindow, last_notification
from gateway.connection.direct import UNKNOWN_FD
from gateway.connection.outgoing import Outgoing
from gateway.connection.transport import Sink, Transport
from gateway.metrics import Metrics
from gateway.receipts.marks import Mark, log_mark

if TYPE_CHECKING:
    from gateway.connection.connection import Connection
    from gateway.flush import FlushScheduler

__all__ = ["REPLAY_BATCH_BYTES", "ConnectionContext", "Outbox", "send_each"]

#: Replay items are handed to the transport in batches of about this many bytes.
REPLAY_BATCH_BYTES = 64 * 1024


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


class Outbox(AckWindow):
    """What a connection owes its client and how it is written (see the module doc)."""

    __slots__ = (
        "_backlog",
        "_context",
        "_fd",
        "_pending",
        "_sink",
        "_transport",
        "_ws",
        "closed",
        "held",
    )

    def __init__(self, transport: Transport, context: ConnectionContext) -> None:
        self._transport = transport
        #: The transport's byte stream, once its response head is out (see the module doc).
        self._sink: Sink | None = None
        #: The sink's socket fd for `through.write_each`'s direct sends (-1: never; see direct.py).
        self._fd = UNKNOWN_FD
        #: Whether items are framed for WebSocket (else SSE).
        self._ws = transport.kind == "ws"
        self._context = context
        #: The frames queued for the next flush (shared bytes objects).
        self._pending: list[bytes] = []
        #: The replay still being written; None when there is none (or no more).
        self._backlog: _Backlog | None = None
        self.closed = False
        #: Until `start()`: items gather but nothing is written.
        self.held = True
        # receipts (issue 17): None while receipts are off, and then nothing is noted
        # (what each one holds: acks.py, AckWindow)
        self._acked: Mark | None = None
        self._sent: bytes | Mark | None = None
        self._unsent: tuple[Mark, ...] = ()

    @property
    def transport(self) -> Transport:
        return self._transport

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
            # written now, not at the tick's end: nothing is buffered yet, and a flush pass
            # per connect (the scheduler's callback, its policy, its metrics) cost a connect
            # more than the write
            frames = self._frames(first)
            if self._pending:  # live items queued while held follow
                frames += self._pending
                self._pending = []
            self.held = False
            if frames:
                transport = self._transport
                transport.write(frames)  # the transport puts its response head in front
                self._sink = transport.sink()
                if self._acked is not None:
                    self._note(frames)
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
                self._sent = log_mark(last.cursor)  # receipts: the replay's are notifications

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
            last = last_notification(frames)
            if last is not None:
                # `_note`'s common case inline, one C call: the method call, `frames[-1]`
                # and the check were ~0.85k instructions a write (scripts/profile-receipts)
                self._sent = last
            else:
                self._note(frames)

    def _too_slow(self) -> None:
        """The reader has fallen behind: the connection closes itself with 4008."""
        raise NotImplementedError

    def _discard(self) -> None:
        self.closed = True
        self._pending = []
        self._backlog = None
        self._sink = None


def send_each(conns: Iterable[Outbox], item: Outgoing) -> None:
    """`conn.send(item)` for each of `conns` (the hub's fan-out), the common case inline.

    A live WebSocket connection (started, no replay being written, not closed) queues
    `item.ws` exactly as its `send` would; any other connection is asked through `send`.
    A Python call per recipient was most of a broadcast's Python time per delivery
    (callgrind, 1,000 connections: ~1,050 instructions per delivery with the call).
    """
    ws = item.ws
    for conn in conns:
        if conn._ws and conn._backlog is None and not conn.held and not conn.closed:
            pending = conn._pending
            if not pending:
                conn._context.scheduler.mark(conn)
            pending.append(ws)
        else:
            conn.send(item)
