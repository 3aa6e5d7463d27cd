"""Fakes for unit tests, where the real thing would need a socket."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.connection.connection import Connection, ConnectionContext
from gateway.connection.outgoing import Outgoing, TransportKind
from gateway.flush import FlushScheduler
from gateway.metrics import Metrics


class FakeTransport:
    """A connection's `Transport`, recording writes instead of sending; `pending` is what the
    kernel has not taken."""

    def __init__(self, buffered: int = 0, kind: TransportKind = "ws") -> None:
        self.kind: TransportKind = kind
        self.answers_pings = kind == "ws"
        self.writes: list[list[bytes]] = []
        self.pending = buffered
        self.closing = False
        self.aborted = False
        self.closed_with: tuple[int, str] | None = None

    def write(self, chunks: list[bytes]) -> None:
        if not self.closing:  # as the real ones: nothing once closing
            self.writes.append(list(chunks))

    def sink(self) -> FakeTransport:
        """Itself: later flushes come through `writelines`, as to an asyncio transport."""
        return self

    def writelines(self, chunks: Iterable[bytes], /) -> None:
        self.write(list(chunks))

    def get_write_buffer_size(self) -> int:
        return self.buffered()

    def buffered(self) -> int:
        return self.pending

    def is_closing(self) -> bool:
        return self.closing

    def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)
        self.closing = True

    def abort(self) -> None:
        self.aborted = self.closing = True


def item(frame: bytes) -> Outgoing:
    """An item whose WebSocket form is `frame` (what the tests look for in writes)."""
    return Outgoing.control(frame)


def context(
    limit: int = 1000,
    detached: list[Connection] | None = None,
    scheduler: FlushScheduler | None = None,
) -> ConnectionContext:
    """What connections share, with `detached` collecting the connections taken out."""
    out = detached if detached is not None else []
    return ConnectionContext(scheduler or FlushScheduler(), limit, out.append, Metrics())
