"""The coalescing policy on a fake clock, and the scheduler applying it on a real loop."""

from __future__ import annotations

import asyncio

import pytest

from gateway.connection.connection import Connection, ConnectionContext
from gateway.flush import CoalescePolicy, FlushScheduler
from gateway.metrics import Metrics
from tests.support.fakes import FakeTransport, item

MS = 0.001
#: Explicit settings, so the tests do not follow the defaults around.
SETTINGS = {"cap": 5 * MS, "quiet": 0.5 * MS, "engage": 2 * MS}


def _conn(transport: FakeTransport, scheduler: FlushScheduler, user_id: str = "u") -> Connection:
    shared = ConnectionContext(scheduler, 10_000, lambda conn: None, Metrics())
    conn = Connection(user_id, (), transport, shared)
    conn.start([])
    return conn


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _streaming(clock: FakeClock, **kwargs: float) -> CoalescePolicy:
    """A policy that has just flushed, so the next publish counts as streaming in."""
    policy = CoalescePolicy(clock, **(SETTINGS | kwargs))  # type: ignore[arg-type]
    policy.arrived(1000)
    policy.flushed()
    return policy


def test_a_publish_on_a_quiet_loop_is_flushed_at_once() -> None:
    clock = FakeClock()
    policy = CoalescePolicy(clock, **SETTINGS)
    policy.arrived(1000)
    assert policy.wait() == 0.0  # nothing before it
    policy.flushed()
    clock.advance(2.5 * MS)  # longer than `engage` since the last publish and flush
    policy.arrived(1000)
    assert policy.wait() == 0.0


def test_one_call_in_flight_waits_for_the_next_call_after_the_ack() -> None:
    clock = FakeClock()
    policy = CoalescePolicy(clock, **SETTINGS)
    policy.arrived(1000)  # on a quiet loop: out now; its flush takes 6 ms
    clock.advance(6 * MS)
    policy.flushed()
    clock.advance(1 * MS)  # the next call, one round trip after the ack
    policy.arrived(1000)
    assert policy.wait() == pytest.approx(0.5 * MS)


def test_a_steady_trickle_is_never_held() -> None:
    clock = FakeClock()
    policy = CoalescePolicy(clock, **SETTINGS)
    for _ in range(10):  # 50/s
        policy.arrived(1000)
        assert policy.wait() == 0.0
        clock.advance(6 * MS)
        policy.flushed()
        clock.advance(14 * MS)


def test_frames_that_are_not_publishes_are_flushed_at_once() -> None:
    policy = _streaming(FakeClock())
    assert policy.wait() == 0.0  # welcome, replay, pong: nothing arrived


def test_publishes_streaming_in_wait_for_quiet() -> None:
    clock = FakeClock()
    policy = _streaming(clock)
    clock.advance(0.2 * MS)
    policy.arrived(1000)
    assert policy.wait() == pytest.approx(0.5 * MS)
    clock.advance(0.3 * MS)
    policy.arrived(1000)  # another one: quiet is counted from it
    assert policy.wait() == pytest.approx(0.5 * MS)
    clock.advance(0.5 * MS)
    assert policy.wait() == 0.0


def test_the_wait_is_capped_after_the_first_pending_publish() -> None:
    clock = FakeClock()
    policy = _streaming(clock)
    clock.advance(0.1 * MS)
    policy.arrived(1000)
    for _ in range(12):  # one every 0.4 ms: never quiet
        clock.advance(0.4 * MS)
        policy.arrived(1000)
        wait = policy.wait()
        assert wait <= 5 * MS - 0.4 * MS * (_ + 1) + 1e-9
    assert policy.wait() == pytest.approx(0.2 * MS)  # 4.8 ms in: the cap, not quiet, is next
    clock.advance(0.2 * MS)
    policy.arrived(1000)
    assert policy.wait() == 0.0


def test_one_recipient_publishes_are_not_held() -> None:
    clock = FakeClock()
    policy = _streaming(clock)
    clock.advance(0.1 * MS)
    for _ in range(1000):  # a per-user batch: each item to one connection
        policy.arrived(1)
    assert policy.wait() == 0.0


def test_a_full_batch_is_flushed_at_once() -> None:
    clock = FakeClock()
    policy = _streaming(clock, max_publishes=10)
    clock.advance(0.1 * MS)
    for _ in range(9):
        policy.arrived(50)
    assert policy.wait() > 0.0
    policy.arrived(50)
    assert policy.wait() == 0.0


def test_flushing_resets_the_batch() -> None:
    clock = FakeClock()
    policy = _streaming(clock)
    policy.arrived(1000)
    policy.flushed()
    assert (policy.publishes, policy.recipients) == (0, 0)


async def test_scheduler_defers_while_publishes_arrive_and_keeps_order() -> None:
    clock = FakeClock()
    metrics = Metrics()
    scheduler = FlushScheduler(
        asyncio.get_running_loop(), CoalescePolicy(clock, **SETTINGS), metrics
    )
    transports = [FakeTransport() for _ in range(10)]
    conns = [_conn(t, scheduler) for t in transports]

    def publish(frame: bytes) -> None:
        shared = item(frame)
        for conn in conns:
            conn.send(shared)
        scheduler.published(len(conns))

    publish(b"a")  # quiet loop: out at the end of the tick
    await asyncio.sleep(0)
    assert all(t.writes == [[b"a"]] for t in transports)
    clock.advance(0.1 * MS)
    publish(b"b")  # right after a flush: publishes are streaming in
    await asyncio.sleep(0.003)  # real time passes, re-checking; the fake clock stands
    assert all(len(t.writes) == 1 for t in transports)
    clock.advance(0.3 * MS)
    publish(b"c")
    await asyncio.sleep(0.003)
    assert all(len(t.writes) == 1 for t in transports)
    clock.advance(0.6 * MS)  # quiet: the next re-check flushes both, in order
    await asyncio.sleep(0.003)
    assert all(t.writes == [[b"a"], [b"b", b"c"]] for t in transports)
    assert (metrics.flushes, metrics.flushed_publishes) == (2, 3)
    scheduler.published(0)  # addressed nobody here: queued nothing, counted in no flush
    publish(b"d")
    await asyncio.sleep(0.003)
    clock.advance(5 * MS)
    await asyncio.sleep(0.003)
    assert (metrics.flushes, metrics.flushed_publishes) == (3, 4)


async def test_scheduler_flushes_a_stalled_stream_at_the_cap() -> None:
    clock = FakeClock()
    scheduler = FlushScheduler(asyncio.get_running_loop(), CoalescePolicy(clock, **SETTINGS))
    transport = FakeTransport()
    conns = [_conn(transport, scheduler)]
    conns += [_conn(FakeTransport(), scheduler, "v")] * 4
    conns[0].send(item(b"0"))
    scheduler.published(5)
    await asyncio.sleep(0)
    for n in range(1, 15):  # one publish every 0.4 ms (fake): never quiet for 0.5 ms
        clock.advance(0.4 * MS)
        conns[0].send(item(b"%d" % n))
        scheduler.published(5)
        await asyncio.sleep(0.002)
    # the second flush went out once 5 ms had passed since its first frame (n=1 at 0.4 ms)
    assert transport.writes == [[b"0"], [b"%d" % n for n in range(1, 15)]]


def test_arrived_many_records_what_as_many_arrived_calls_do() -> None:
    # a batch's entries told at once (service.py): the batch begins where it started
    clock = FakeClock()
    one, many = _streaming(clock), _streaming(clock)
    for policy in (one, many):
        policy.flushed()
    clock.advance(1 * MS)
    started = many.now()
    for recipients in (1, 0, 4, 1):
        one.arrived(recipients)
    many.arrived_many(3, 6, started)
    many.arrived_many(0, 0, started)  # nothing queued: no part of a flush
    assert (many.publishes, many.recipients) == (one.publishes, one.recipients) == (3, 6)
    for _ in range(4):
        assert many.wait() == one.wait()
        clock.advance(0.2 * MS)
