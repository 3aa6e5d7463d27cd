"""One WebSocket connection's outgoing side: a bounded buffer that coalesces frames per flush.

The fan-out calls `Session.send()` for every recipient; it never awaits and never writes.
Frames gather in the session until the `FlushScheduler` (flush.py) hands each dirty
session's frames to its transport in one `writelines()` (one syscall for many frames): at
the end of the tick, or a few milliseconds later while publishes stream in. Pending frames
are shared bytes objects, so queuing costs a pointer each.

The slow-reader rule: when new frames are due and the transport still holds more than
`limit` bytes the kernel would not take from earlier writes, the reader has fallen behind;
it is dropped via `on_overflow` instead of being waited for. A burst that arrives in one
flush is never held against a client that keeps up, and a stalled client's memory stays
below `limit` plus one flush's frames (flush.py bounds those).

A replay (a resuming client's missed notifications) can be far larger than `limit`, so it
is not queued at once: `send_first` writes it as the socket drains, a batch each time the
transport resumes writing (`pause`/`resume`), building each frame only then. Live frames
wait behind it; if they pass `limit` the reader has fallen behind as above. A stalled
resuming client therefore holds at most a batch plus `limit`, however long its replay.

Stdlib only: the transport is anything with `writelines`, `get_write_buffer_size`,
`is_closing` and `abort` (an asyncio transport, or a fake one in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from gateway.flush import FlushScheduler

__all__ = ["Session", "Transport"]

#: The topics of every connection that follows none: one shared object, not a set each.
_NO_TOPICS: frozenset[str] = frozenset()
#: Replay frames are handed to the transport in batches of about this many bytes.
REPLAY_BATCH_BYTES = 64 * 1024


class Transport(Protocol):
    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview], /) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def is_closing(self) -> bool: ...
    def abort(self) -> None: ...


class _Backlog:
    """A replay being written as the socket drains, and what waits behind it."""

    __slots__ = ("frames", "paused", "waiting")

    def __init__(self, frames: Iterator[bytes]) -> None:
        self.frames = frames
        #: The transport asked us to stop writing (its buffer is over its high-water mark).
        self.paused = False
        #: Bytes of live frames queued behind the replay.
        self.waiting = 0


class Session:
    """Outgoing frames of one connection. `user_id` and `topics` are what the hub indexes.

    `topics` is immutable: the hub replaces it on subscribe and unsubscribe, so the many
    connections that follow nothing share one empty frozenset.
    """

    __slots__ = (
        "_backlog",
        "_limit",
        "_on_overflow",
        "_pending",
        "_scheduler",
        "_transport",
        "closed",
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
        scheduler: FlushScheduler,
        limit: int,
        on_overflow: Callable[[Session], None],
    ) -> None:
        self.user_id = user_id
        self.topics: frozenset[str] = frozenset(topics) or _NO_TOPICS
        self._transport = transport
        self._scheduler = scheduler
        self._limit = limit
        self._on_overflow = on_overflow
        self._pending: list[bytes] = []
        #: The replay still being written; None when there is none (or no more).
        self._backlog: _Backlog | None = None
        self.closed = False
        #: While held, frames gather but are not flushed (the replay is being read); the
        #: connection's first frames (its 101 response) are not queued yet.
        self.held = False
        #: Whether the peer sent anything since the last heartbeat ping (the edge keeps it).
        self.heard = True

    def send(self, frame: bytes) -> None:
        """Queue one complete frame for the next flush. Never blocks, never writes."""
        if self.closed:
            return
        backlog = self._backlog
        if not self._pending and not self.held and backlog is None:
            self._scheduler.mark(self)
        self._pending.append(frame)
        if backlog is not None:
            backlog.waiting += len(frame)
            if backlog.waiting > self._limit >= backlog.waiting - len(frame):
                self._scheduler.mark(self)  # judged at the tick's end (flush), like live frames

    def pending_bytes(self) -> int:
        """Bytes queued for the next flush (the scheduler samples one write per flush)."""
        return sum(map(len, self._pending))

    def send_first(self, frames: list[bytes], replay: Iterator[bytes] | None = None) -> None:
        """Put `frames` ahead of everything queued so far, then release the held frames.

        With `replay`, `frames` are written at once and the replay after them as the
        socket drains; frames queued meanwhile go out when the replay is done.
        """
        if self.closed:
            return
        if replay is None:
            self._pending[:0] = frames
            self.held = False
            if self._pending:
                self._scheduler.mark(self)
            return
        if self._transport.is_closing():
            self._discard()
            return
        self.held = False
        self._backlog = _Backlog(replay)  # before writing: the write may pause us
        self._transport.writelines(frames)
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

    def _pump(self) -> None:
        """Write replay frames until the transport pauses us or the replay ends."""
        backlog = self._backlog
        if backlog is None or self.closed:
            return
        transport = self._transport
        if transport.is_closing():
            self._discard()
            return
        while not backlog.paused:
            batch: list[bytes] = []
            size = 0
            for frame in backlog.frames:
                batch.append(frame)
                size += len(frame)
                if size >= REPLAY_BATCH_BYTES:
                    break
            if not batch:  # the replay is out: live frames follow
                self._backlog = None
                if self._pending:
                    self._scheduler.mark(self)
                return
            transport.writelines(batch)

    def flush(self) -> None:
        """Write what is pending in one call (called by the scheduler)."""
        if self.closed or self.held or not self._pending:
            return
        backlog = self._backlog
        if backlog is not None:  # live frames wait for the replay
            if backlog.waiting > self._limit:
                self._overflow()
            return
        transport = self._transport
        if transport.is_closing():
            self._discard()
            return
        if transport.get_write_buffer_size() > self._limit:
            self._overflow()
            return
        frames = self._pending
        self._pending = []
        transport.writelines(frames)

    def close(self) -> None:
        """Stop accepting frames; what is still pending is dropped."""
        self._discard()

    def abort(self) -> None:
        """Drop the connection at once, unsent frames and all (a peer that stopped answering)."""
        self._discard()
        self._transport.abort()

    def _discard(self) -> None:
        self.closed = True
        self._pending = []
        self._backlog = None

    def _overflow(self) -> None:
        self._discard()
        self._on_overflow(self)
