"""One client's `Connection`: coalescing, the slow-reader rule, replay, closing, its terms.

On a fake transport (the real ones are tested end to end).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from gateway.closecodes import CloseCode
from gateway.connection.connection import MAX_BAD_FRAMES, Connection, connection_for
from gateway.connection.outbox import REPLAY_BATCH_BYTES, send_each
from gateway.connection.outgoing import PING, Outgoing
from tests.support.fakes import FakeTransport, context, item


def _conn(
    transport: FakeTransport, limit: int = 1000, started: bool = True
) -> tuple[Connection, list[Connection]]:
    detached: list[Connection] = []
    conn = connection_for("u", (), transport, context(limit, detached))
    if started:
        conn.start([])
    return conn, detached


async def test_items_of_one_tick_go_out_in_one_write() -> None:
    transport = FakeTransport()
    conn, _ = _conn(transport)
    for n in range(5):
        conn.send(item(b"f%d" % n))
    assert transport.writes == []  # nothing written inside the tick
    await asyncio.sleep(0)
    assert transport.writes == [[b"f0", b"f1", b"f2", b"f3", b"f4"]]
    conn.send(item(b"next"))
    await asyncio.sleep(0)
    assert transport.writes[-1] == [b"next"]


async def test_one_flush_callback_serves_many_connections() -> None:
    loop = asyncio.get_running_loop()
    shared = context(10_000)
    transports = [FakeTransport() for _ in range(100)]
    conns = [Connection("u", (), t, shared) for t in transports]
    for conn in conns:
        conn.start([])
    x = item(b"x")
    for conn in conns:
        conn.send(x)
    assert len(loop._ready) == 1  # type: ignore[attr-defined]
    await asyncio.sleep(0)
    assert all(t.writes == [[b"x"]] for t in transports)


async def test_a_burst_within_one_tick_is_not_held_against_the_client() -> None:
    transport = FakeTransport()
    conn, _ = _conn(transport, limit=10)
    conn.send(item(b"123456"))
    conn.send(item(b"123456"))
    await asyncio.sleep(0)
    assert transport.closed_with is None and transport.writes == [[b"123456", b"123456"]]


async def test_a_transport_still_over_the_limit_closes_the_connection_with_4008() -> None:
    transport = FakeTransport()
    conn, detached = _conn(transport, limit=1000)
    conn.send(item(b"first"))  # the first write (with the response head) is never judged
    await asyncio.sleep(0)
    transport.pending = 1001
    conn.send(item(b"123456"))
    await asyncio.sleep(0)
    assert conn.closed and detached == [conn]
    assert transport.closed_with == (CloseCode.TOO_SLOW, "too slow: send buffer overflow")
    assert transport.writes == [[b"first"]]
    conn.send(item(b"more"))  # ignored once closed
    await asyncio.sleep(0)
    assert transport.writes == [[b"first"]]


async def test_at_the_limit_is_still_fine() -> None:
    transport = FakeTransport()
    conn, _ = _conn(transport, limit=1000)
    conn.send(item(b"first"))
    await asyncio.sleep(0)
    transport.pending = 1000
    conn.send(item(b"x"))
    await asyncio.sleep(0)
    assert transport.closed_with is None and transport.writes == [[b"first"], [b"x"]]


async def test_held_items_wait_and_the_first_items_go_first() -> None:
    transport = FakeTransport()
    conn, _ = _conn(transport, started=False)
    assert conn.held
    conn.send(item(b"live1"))
    await asyncio.sleep(0)
    assert transport.writes == []
    conn.start([item(b"welcome"), item(b"resumed")])
    # written at once (the transport puts its response head in front of the first write)
    assert transport.writes == [[b"welcome", b"resumed", b"live1"]]
    conn.send(item(b"live2"))
    await asyncio.sleep(0)
    assert transport.writes == [[b"welcome", b"resumed", b"live1"], [b"live2"]]


async def test_closing_transport_discards() -> None:
    transport = FakeTransport()
    conn, _ = _conn(transport)
    conn.send(item(b"first"))
    await asyncio.sleep(0)
    transport.closing = True
    conn.send(item(b"x"))
    await asyncio.sleep(0)
    assert transport.writes == [[b"first"]] and conn.closed and transport.closed_with is None


async def test_connections_without_topics_share_one_empty_frozenset() -> None:
    a, _ = _conn(FakeTransport())
    b, _ = _conn(FakeTransport())
    assert a.topics == frozenset() and a.topics is b.topics
    c = Connection("u", ["x", "y", "x"], FakeTransport(), context())
    assert c.topics == frozenset({"x", "y"})


async def test_abort_drops_pending_items_and_the_connection() -> None:
    transport = FakeTransport()
    conn, detached = _conn(transport)
    assert conn.heard  # the handshake counts as hearing from the peer
    conn.send(item(b"lost"))
    conn.abort()
    assert conn.closed and transport.aborted and detached == [conn]
    await asyncio.sleep(0)
    conn.send(item(b"after"))
    await asyncio.sleep(0)
    assert transport.writes == [] and transport.closed_with is None


async def test_close_writes_what_is_queued_then_closes_the_transport() -> None:
    transport = FakeTransport()
    conn, detached = _conn(transport)
    conn.send(item(b"owed"))
    conn.close(CloseCode.DISCONNECTED, "bye")
    assert transport.writes == [[b"owed"]]
    assert transport.closed_with == (CloseCode.DISCONNECTED, "bye") and detached == [conn]
    conn.close(CloseCode.GOING_AWAY, "again")  # once only
    assert transport.closed_with == (CloseCode.DISCONNECTED, "bye")


async def test_a_held_connection_is_dropped_on_close_not_closed() -> None:
    """Its response head is not written yet: a close may not come first."""
    transport = FakeTransport()
    conn, _ = _conn(transport, started=False)
    conn.send(item(b"live"))
    conn.close(CloseCode.GOING_AWAY, "drain")
    assert transport.aborted and transport.closed_with is None and transport.writes == []


async def test_bad_frames_close_the_connection_at_the_limit() -> None:
    transport = FakeTransport()
    conn, _ = _conn(transport)
    for _ in range(MAX_BAD_FRAMES - 1):
        conn.bad_frame()
    assert not conn.closed
    conn.bad_frame()
    assert transport.closed_with == (CloseCode.POLICY_VIOLATION, "too many bad frames")


async def test_the_heartbeat_pings_a_live_client_and_drops_a_silent_one() -> None:
    transport = FakeTransport()
    conn, _ = _conn(transport)
    assert conn.beat() and not conn.heard
    await asyncio.sleep(0)
    assert transport.writes == [[PING.ws]]
    conn.heard_from()
    assert conn.beat()
    assert not conn.beat() and transport.aborted


async def test_an_sse_stream_is_kept_alive_though_it_cannot_answer() -> None:
    transport = FakeTransport(kind="sse")
    conn, _ = _conn(transport)
    assert conn.beat() and conn.beat()
    await asyncio.sleep(0)
    assert transport.writes == [[b": keep-alive\n\n", b": keep-alive\n\n"]]
    assert not transport.aborted


async def test_an_sse_connection_writes_sse_blocks() -> None:
    transport = FakeTransport(kind="sse")
    conn, _ = _conn(transport)
    conn.send(Outgoing.notification("0.1-7", b'{"id":"n"}'))
    conn.send(Outgoing.of("subscribed", topic="t"))
    await asyncio.sleep(0)
    assert transport.writes == [
        [
            b'id: 0.1-7\nevent: notification\ndata: {"event":"notification","cursor":"0.1-7",'
            b'"notification":{"id":"n"}}\n\n',
            b'event: subscribed\ndata: {"event":"subscribed","topic":"t"}\n\n',
        ]
    ]


async def test_the_token_expiry_closes_with_4001_and_a_refresh_moves_it() -> None:
    import time

    transport = FakeTransport()
    conn, _ = _conn(transport)
    conn.expire_at(time.time() + 60, None)
    conn.expire_at(time.time() + 0.01, None)  # the earlier timer is cancelled
    await asyncio.sleep(0.05)
    assert transport.closed_with == (CloseCode.TOKEN_EXPIRED, "token expired")


class PausingTransport(FakeTransport):
    """Buffers what is written and pauses its connection above `high`, as asyncio's do."""

    def __init__(self, high: int) -> None:
        super().__init__()
        self.high = high
        self.conn: Connection | None = None

    def write(self, chunks: list[bytes]) -> None:
        super().write(chunks)
        self.pending += sum(len(chunk) for chunk in chunks)
        if self.pending > self.high and self.conn is not None:
            self.conn.pause()

    def drain(self) -> None:
        self.pending = 0
        if self.conn is not None:
            self.conn.resume()


def _counted(frames: list[bytes], taken: list[bytes]) -> Iterator[Outgoing]:
    for frame in frames:
        taken.append(frame)  # the connection builds (takes) an item only when it writes it
        yield item(frame)


def _written(transport: FakeTransport) -> list[bytes]:
    return [frame for write in transport.writes for frame in write]


async def test_a_replay_is_written_as_the_transport_drains() -> None:
    transport = PausingTransport(high=REPLAY_BATCH_BYTES)
    conn, _ = _conn(transport, limit=50_000, started=False)
    transport.conn = conn
    replay = [b"%04d" % n + b"r" * 9996 for n in range(100)]  # 1 MB, 20 times the limit
    taken: list[bytes] = []
    conn.send(item(b"live-before"))
    conn.start([item(b"welcome")], _counted(replay, taken))
    conn.send(item(b"live-during"))
    await asyncio.sleep(0)
    # one batch in the transport (the items were built only as they were taken)
    assert transport.pending <= 2 * REPLAY_BATCH_BYTES and len(taken) < 10
    while len(taken) < len(replay):
        transport.drain()
        assert transport.pending <= 2 * REPLAY_BATCH_BYTES
    transport.drain()
    await asyncio.sleep(0)
    assert _written(transport) == [b"welcome", *replay, b"live-before", b"live-during"]
    assert transport.closed_with is None


async def test_live_items_past_the_limit_behind_a_stalled_replay_close_it() -> None:
    transport = PausingTransport(high=REPLAY_BATCH_BYTES)
    conn, _ = _conn(transport, limit=1000, started=False)
    transport.conn = conn
    conn.start([item(b"welcome")], iter([item(b"r" * 10_000)] * 100))
    for _ in range(5):
        conn.send(item(b"l" * 148))  # 750 bytes waiting (with the 2-byte headers)
    await asyncio.sleep(0)
    assert transport.closed_with is None
    conn.send(item(b"l" * 298))  # 1,050 bytes waiting
    await asyncio.sleep(0)
    assert conn.closed and transport.closed_with is not None
    assert transport.closed_with[0] == CloseCode.TOO_SLOW
    transport.drain()  # nothing more of the replay once closed
    assert len(_written(transport)) < 10


async def test_a_refused_start_writes_no_item_queued_meanwhile() -> None:
    """A resume whose replay read failed (issue 15, fault path 1): live items queued while
    it was held must not reach the client ahead of the close, or it takes its cursor
    from them and its next resume skips the range never replayed."""
    transport = FakeTransport()
    conn, detached = _conn(transport, started=False)
    conn.send(item(b"live1"))
    conn.send(item(b"live2"))
    conn.refuse(CloseCode.TRY_AGAIN_LATER, "backend unreachable: retry with since")
    await asyncio.sleep(0)
    assert transport.writes == [] and not transport.aborted
    assert transport.closed_with == (
        CloseCode.TRY_AGAIN_LATER,
        "backend unreachable: retry with since",
    )
    assert conn.closed and detached == [conn]


async def test_send_each_does_what_send_does_for_each_connection() -> None:
    """The fan-out's inline case (a live WebSocket connection) and its fallback to `send`
    leave every kind and state of connection as one `send` each would."""

    def fleet() -> tuple[list[Connection], list[FakeTransport]]:
        live, held, closed = FakeTransport(), FakeTransport(), FakeTransport()
        sse, replaying = FakeTransport(kind="sse"), PausingTransport(high=10)
        conns = [
            _conn(live)[0],
            _conn(held, started=False)[0],
            _conn(closed)[0],
            _conn(sse)[0],
            _conn(replaying, started=False)[0],
        ]
        replaying.conn = conns[4]
        conns[4].start([item(b"welcome")], iter([item(b"r" * 100)] * 3))
        conns[2].close(CloseCode.NORMAL, "bye")
        return conns, [live, held, closed, sse, replaying]

    each, each_transports = fleet()
    one_by_one, one_by_one_transports = fleet()
    for frame in (b"a", b"b"):
        sent = Outgoing.notification("0.1-7", b'{"n":"%s"}' % frame)
        send_each(each, sent)
        for conn in one_by_one:
            conn.send(sent)
    await asyncio.sleep(0)
    for got, want in zip(each_transports, one_by_one_transports, strict=True):
        assert got.writes == want.writes and got.closed_with == want.closed_with
    assert each_transports[0].writes  # the live one was written to
    for got_conn, want_conn in zip(each, one_by_one, strict=True):
        assert got_conn._pending == want_conn._pending


async def test_a_publish_is_framed_once_per_transport_kind_and_for_sse_only_when_needed() -> None:
    """Issue 18: every recipient of a kind shares one framing of the item; a publish that
    reaches no SSE stream never makes its SSE block."""
    ws_transports = [FakeTransport() for _ in range(3)]
    sse_transports = [FakeTransport(kind="sse") for _ in range(3)]
    ws_only = Outgoing.notification("0.1-7", b'{"id":"n"}')
    send_each([_conn(t)[0] for t in ws_transports], ws_only)
    await asyncio.sleep(0)
    assert ws_only._sse is None  # nothing was made for a transport nobody used
    mixed = Outgoing.notification("0.1-8", b'{"id":"m"}')
    send_each([_conn(t)[0] for t in (*ws_transports, *sse_transports)], mixed)
    await asyncio.sleep(0)
    ws_frames = [t.writes[-1][0] for t in ws_transports]
    sse_blocks = [t.writes[-1][0] for t in sse_transports]
    assert all(frame is mixed.ws for frame in ws_frames)  # the same bytes object, not copies
    assert all(block is mixed.sse() for block in sse_blocks)
    assert sse_blocks[0].startswith(b"id: 0.1-8\nevent: notification\ndata: ")
