"""`_speedups.write_each` (gateway/csrc/fanout.c) against its twin, `through.write_each_py`.

Connections in every state the loop tells apart (WebSocket or SSE, held, closed, a replay
being written, frames pending, no byte stream yet, a closing stream, buffered bytes around
the limit, the direct fd unknown or none, receipts on) are built twice; each twin is run on
one set, and every effect must be the same: what each transport was written, which were
discarded, queued, closed as too slow, their fds and receipts notes. The direct send itself
on real uvloop sockets is tests/unit/test_direct_send.py's (run with C on and off).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.connection.connection import Connection, ConnectionContext, SseConnection
from gateway.connection.outbox import Outbox
from gateway.connection.outgoing import Outgoing
from gateway.connection.through import write_each_py
from gateway.flush import FlushScheduler
from gateway.metrics import Metrics
from gateway.receipts.marks import log_mark
from gateway.speedups import speedups
from tests.support.fakes import FakeTransport
from tests.support.leaks import assert_no_leak

pytestmark = pytest.mark.skipif(speedups is None, reason="GATEWAY_NO_SPEEDUPS=1")

LIMIT = 1000
WriteEach = Callable[[Iterable[Outbox], Outgoing], None]


def _compiled() -> WriteEach:
    assert speedups is not None
    compiled: WriteEach = speedups.write_each
    return compiled


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop never run: the scheduler only needs its call_soon."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


#: One connection's state: kind, held, closed, replay, pending, sink, closing, buffered,
#: fd, receipts.
_state = st.tuples(
    st.sampled_from(["ws", "sse"]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sampled_from([0, 1, LIMIT, LIMIT + 1, 10 * LIMIT]),
    st.sampled_from([-2, -1]),
    st.booleans(),
)
State = tuple[str, bool, bool, bool, bool, bool, bool, int, int, bool]


def _build(states: list[State], loop: asyncio.AbstractEventLoop) -> tuple[list[Outbox], Any]:
    detached: list[Connection] = []
    scheduler = FlushScheduler(loop)
    context = ConnectionContext(scheduler, LIMIT, detached.append, Metrics())
    conns: list[Outbox] = []
    for n, state in enumerate(states):
        kind, held, closed, replay, pending, sink, closing, buffered, fd, receipts = state
        transport = FakeTransport(buffered, kind="ws" if kind == "ws" else "sse")
        cls = Connection if kind == "ws" else SseConnection
        conn = cls(f"u{n}", (), transport, context)
        conn.held = held
        if sink:
            conn._sink = transport
        if pending:
            conn._pending = [b"queued"]
        if replay:
            conn._backlog = _backlog()
        transport.closing = closing
        conn._fd = fd
        if receipts:
            conn._acked = log_mark("0-1")
        conn.closed = closed
        conns.append(conn)
    return conns, (detached, scheduler, context.metrics)


def _backlog() -> Any:
    from gateway.connection.outbox import _Backlog

    return _Backlog(iter(()))


def _effects(conns: list[Outbox], shared: Any) -> list[Any]:
    detached, scheduler, metrics = shared
    seen: list[Any] = []
    for conn in conns:
        transport = conn.transport
        assert isinstance(transport, FakeTransport)
        seen.append(
            (
                transport.writes,
                transport.closed_with,
                conn.closed,
                conn._pending,
                conn._fd,
                conn._sent,
                conn._sink is None,
            )
        )
    users = [conn.user_id for conn in detached]
    return [seen, users, len(scheduler._dirty), metrics.slow_clients_closed]


@settings(max_examples=300, deadline=None)
@given(states=st.lists(_state, max_size=8), size=st.sampled_from([2, 125, 126, 70000]))
def test_the_compiled_loop_does_what_the_twin_does(
    loop: asyncio.AbstractEventLoop, states: list[State], size: int
) -> None:
    frame = b"\x81" + bytes(size - 1)
    results = []
    for write_each in (write_each_py, _compiled()):
        conns, shared = _build(states, loop)
        write_each(conns, Outgoing.control(frame))
        results.append(_effects(conns, shared))
    assert results[0] == results[1]


def test_receipts_note_the_frame_written(loop: asyncio.AbstractEventLoop) -> None:
    conns, _ = _build([("ws", False, False, False, False, True, False, 0, -1, True)], loop)
    ws = Outgoing.notification("0-7", b'{"id":"n"}')
    _compiled()(conns, ws)
    assert conns[0]._sent == ws.ws  # the frame as written, read by the next ack


class _HeldByProperty(Connection):
    """Hides the `held` slot behind a property: the C must read what Python reads."""

    __slots__ = ()

    @property
    def held(self) -> bool:
        return True

    @held.setter
    def held(self, value: bool) -> None:
        pass


class _Other:
    """Not an Outbox at all: the fan-out asks it through `send`, as the twin does."""

    _ws = False

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    def send(self, item: Outgoing) -> None:
        self.sent.append(item)


@pytest.mark.parametrize("write_each", [write_each_py, _compiled()], ids=["twin", "c"])
def test_a_hidden_slot_and_a_stranger_are_read_as_python_reads_them(
    loop: asyncio.AbstractEventLoop, write_each: WriteEach
) -> None:
    transport = FakeTransport()
    context = ConnectionContext(FlushScheduler(loop), LIMIT, lambda conn: None, Metrics())
    conn = _HeldByProperty("u", (), transport, context)
    conn._sink = transport
    other = _Other()
    item = Outgoing.control(b"\x81\x01x")
    write_each([conn, other], item)  # type: ignore[list-item]
    assert transport.writes == []  # held: queued, not written
    assert conn._pending == [item.ws]
    assert other.sent == [item]


@pytest.mark.parametrize("write_each", [write_each_py, _compiled()], ids=["twin", "c"])
def test_an_unset_slot_raises_what_python_raises(write_each: WriteEach) -> None:
    bare = Connection.__new__(Connection)
    with pytest.raises(AttributeError, match="_ws"):
        write_each([bare], Outgoing.control(b"\x81\x01x"))


class _Failing(FakeTransport):
    def writelines(self, chunks: Iterable[bytes], /) -> None:
        raise OSError("the sink failed")


@pytest.mark.parametrize("write_each", [write_each_py, _compiled()], ids=["twin", "c"])
def test_an_error_of_a_sink_stops_the_loop_before_the_slow_are_closed(
    loop: asyncio.AbstractEventLoop, write_each: WriteEach
) -> None:
    slow, failing = FakeTransport(buffered=LIMIT + 1), _Failing(buffered=1)
    context = ConnectionContext(FlushScheduler(loop), LIMIT, lambda conn: None, Metrics())
    conns = []
    for transport in (slow, failing):
        conn = Connection("u", (), transport, context)
        conn.held = False
        conn._sink = transport
        conns.append(conn)
    with pytest.raises(OSError, match="the sink failed"):
        write_each(conns, Outgoing.control(b"\x81\x01x"))
    assert slow.closed_with is None and not conns[0].closed


def test_write_each_leaks_nothing(loop: asyncio.AbstractEventLoop) -> None:
    class Counting(FakeTransport):
        def writelines(self, chunks: Iterable[bytes], /) -> None:
            self.pending = 0  # counted, not kept: the memory must not grow

    states: list[State] = [
        ("ws", False, False, False, False, True, False, 0, -1, True),  # writelines, noted
        ("ws", False, False, False, False, True, False, 5, -1, False),  # buffered
        ("ws", False, False, False, False, True, False, 0, -2, False),  # fd looked up
        ("ws", False, True, False, False, True, False, 0, -1, False),  # closed: send
        ("ws", False, False, False, False, True, True, 0, -1, False),  # closing: discarded
        ("ws", False, False, False, False, True, False, LIMIT + 1, -1, False),  # too slow
        ("ws", False, False, False, False, True, False, 0, -1, False),  # the direct send
    ]
    context = ConnectionContext(FlushScheduler(loop), LIMIT, lambda conn: None, Metrics())
    conns = []
    for n, (_, held, closed, _r, _p, _s, closing, buffered, fd, receipts) in enumerate(states):
        transport = Counting(buffered)
        conn = Connection(f"u{n}", (), transport, context)
        conn.held, conn.closed, conn._sink, conn._fd = held, closed, transport, fd
        transport.closing = closing
        if receipts:
            conn._acked = log_mark("0-1")
        conns.append(conn)
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    conns[-1]._fd = writer.fileno()  # filled, then EAGAIN: the rest to writelines
    item = Outgoing.control(b"\x81\x7e\x01\x00" + bytes(256))
    try:
        assert_no_leak(lambda: _compiled()(conns, item), [item, item.ws, *conns])
    finally:
        reader.close()
        writer.close()


class _SlottedSink:
    """A sink without a __dict__: the C looks its methods up once per type (fanout.c)."""

    __slots__ = ("writes",)

    def __init__(self) -> None:
        self.writes: list[list[bytes]] = []

    def writelines(self, chunks: Iterable[bytes], /) -> None:
        self.writes.append(list(chunks))

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False


def test_a_sink_type_changed_after_its_methods_were_cached_is_read_anew(
    loop: asyncio.AbstractEventLoop,
) -> None:
    class Sink(_SlottedSink):
        __slots__ = ()

    context = ConnectionContext(FlushScheduler(loop), LIMIT, lambda conn: None, Metrics())
    conns, sinks = [], []
    for n in range(2):
        sink = Sink()
        sinks.append(sink)
        conn = Connection(f"u{n}", (), FakeTransport(), context)
        conn.held, conn._sink, conn._fd = False, sink, -1
        conns.append(conn)
    item = Outgoing.control(b"\x81\x01x")
    _compiled()(conns[:1], item)
    assert [sink.writes for sink in sinks] == [[[item.ws]], []]
    Sink.get_write_buffer_size = lambda self: LIMIT + 1  # type: ignore[method-assign]
    _compiled()(conns[1:], item)  # too slow now: closed with 4008, nothing written
    assert conns[1].closed and conns[1].transport.closed_with is not None  # type: ignore[attr-defined]
    Sink.is_closing = lambda self: True  # type: ignore[method-assign]
    _compiled()(conns[:1], item)  # closing: discarded
    assert conns[0].closed
