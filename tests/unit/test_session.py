"""Coalescing and the slow-client policy, on a fake transport (the real one is tested e2e)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator

from gateway.flush import FlushScheduler
from gateway.session import REPLAY_BATCH_BYTES, Session
from tests.support.fakes import FakeTransport


def _session(transport: FakeTransport, limit: int = 1000) -> tuple[Session, list[Session]]:
    overflowed: list[Session] = []
    scheduler = FlushScheduler(asyncio.get_running_loop())
    session = Session("u", (), transport, scheduler, limit, overflowed.append)
    return session, overflowed


async def test_frames_of_one_tick_go_out_in_one_write() -> None:
    transport = FakeTransport()
    session, _ = _session(transport)
    for n in range(5):
        session.send(b"f%d" % n)
    assert transport.writes == []  # nothing written inside the tick
    await asyncio.sleep(0)
    assert transport.writes == [[b"f0", b"f1", b"f2", b"f3", b"f4"]]
    session.send(b"next")
    await asyncio.sleep(0)
    assert transport.writes[-1] == [b"next"]


async def test_one_flush_callback_serves_many_sessions() -> None:
    loop = asyncio.get_running_loop()
    scheduler = FlushScheduler(loop)
    transports = [FakeTransport() for _ in range(100)]
    sessions = [Session("u", (), t, scheduler, 1000, lambda s: None) for t in transports]
    for session in sessions:
        session.send(b"x")
    assert len(loop._ready) == 1  # type: ignore[attr-defined]
    await asyncio.sleep(0)
    assert all(t.writes == [[b"x"]] for t in transports)


async def test_a_burst_within_one_tick_is_not_held_against_the_client() -> None:
    transport = FakeTransport()
    session, overflowed = _session(transport, limit=10)
    session.send(b"123456")
    session.send(b"123456")
    await asyncio.sleep(0)
    assert overflowed == [] and transport.writes == [[b"123456", b"123456"]]


async def test_a_transport_still_over_the_limit_drops_the_session() -> None:
    transport = FakeTransport(buffered=1001)
    session, overflowed = _session(transport, limit=1000)
    session.send(b"123456")
    await asyncio.sleep(0)
    assert overflowed == [session] and session.closed
    assert transport.writes == []
    session.send(b"more")  # ignored once closed
    await asyncio.sleep(0)
    assert transport.writes == []


async def test_at_the_limit_is_still_fine() -> None:
    transport = FakeTransport(buffered=1000)
    session, overflowed = _session(transport, limit=1000)
    session.send(b"x")
    await asyncio.sleep(0)
    assert overflowed == [] and transport.writes == [[b"x"]]


async def test_held_frames_wait_and_replay_goes_first() -> None:
    transport = FakeTransport()
    session, _ = _session(transport)
    session.held = True
    session.send(b"live1")
    await asyncio.sleep(0)
    assert transport.writes == []
    session.send_first([b"welcome", b"replay"])
    session.send(b"live2")
    await asyncio.sleep(0)
    assert transport.writes == [[b"welcome", b"replay", b"live1", b"live2"]]


async def test_closing_transport_discards() -> None:
    transport = FakeTransport()
    transport.closing = True
    session, overflowed = _session(transport)
    session.send(b"x")
    await asyncio.sleep(0)
    assert transport.writes == [] and session.closed and overflowed == []


async def test_sessions_without_topics_share_one_empty_frozenset() -> None:
    a, _ = _session(FakeTransport())
    b, _ = _session(FakeTransport())
    assert a.topics == frozenset() and a.topics is b.topics
    scheduler = FlushScheduler(asyncio.get_running_loop())
    c = Session("u", ["x", "y", "x"], FakeTransport(), scheduler, 1000, lambda s: None)
    assert c.topics == frozenset({"x", "y"})


async def test_abort_drops_pending_frames_and_the_connection() -> None:
    transport = FakeTransport()
    session, overflowed = _session(transport)
    assert session.heard  # the handshake counts as hearing from the peer
    session.send(b"lost")
    session.abort()
    assert session.closed and transport.aborted
    await asyncio.sleep(0)
    session.send(b"after")
    await asyncio.sleep(0)
    assert transport.writes == [] and overflowed == []


class PausingTransport(FakeTransport):
    """Buffers what is written and pauses its session above `high`, as asyncio's do."""

    def __init__(self, high: int) -> None:
        super().__init__()
        self.high = high
        self.session: Session | None = None

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview], /) -> None:
        super().writelines(list_of_data)
        self.buffered += sum(len(chunk) for chunk in self.writes[-1])
        if self.buffered > self.high and self.session is not None:
            self.session.pause()

    def drain(self) -> None:
        self.buffered = 0
        if self.session is not None:
            self.session.resume()


def _counted(frames: list[bytes], taken: list[bytes]) -> Iterator[bytes]:
    for frame in frames:
        taken.append(frame)  # the session builds (takes) a frame only when it writes it
        yield frame


def _written(transport: FakeTransport) -> list[bytes]:
    return [frame for write in transport.writes for frame in write]


async def test_a_replay_is_written_as_the_transport_drains() -> None:
    transport = PausingTransport(high=REPLAY_BATCH_BYTES)
    session, overflowed = _session(transport, limit=50_000)
    transport.session = session
    replay = [b"%04d" % n + b"r" * 9996 for n in range(100)]  # 1 MB, 20 times the limit
    taken: list[bytes] = []
    session.held = True
    session.send(b"live-before")
    session.send_first([b"101", b"welcome"], _counted(replay, taken))
    session.send(b"live-during")
    await asyncio.sleep(0)
    # one batch in the transport (the frames were built only as they were taken)
    assert transport.buffered <= 2 * REPLAY_BATCH_BYTES and len(taken) < 10
    while len(taken) < len(replay):
        transport.drain()
        assert transport.buffered <= 2 * REPLAY_BATCH_BYTES
    transport.drain()
    await asyncio.sleep(0)
    assert _written(transport) == [b"101", b"welcome", *replay, b"live-before", b"live-during"]
    assert overflowed == []


async def test_live_frames_past_the_limit_behind_a_stalled_replay_overflow() -> None:
    transport = PausingTransport(high=REPLAY_BATCH_BYTES)
    session, overflowed = _session(transport, limit=1000)
    transport.session = session
    session.held = True
    session.send_first([b"101"], iter([b"r" * 10_000] * 100))
    for _ in range(5):
        session.send(b"l" * 150)  # 750 bytes waiting: within the limit
    await asyncio.sleep(0)
    assert overflowed == []
    session.send(b"l" * 300)  # 1,050 bytes waiting
    await asyncio.sleep(0)
    assert overflowed == [session] and session.closed
    transport.drain()  # nothing more of the replay once closed
    assert len(_written(transport)) < 10
