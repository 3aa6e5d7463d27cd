"""A lone publish's fan-out writes as it goes (flush.py's `write_through`), and nothing else
changes: one write per connection for a batch, order, the slow-reader rule, the counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from gateway.closecodes import CloseCode
from gateway.connection.connection import Connection, ConnectionContext, SseConnection
from gateway.connection.outgoing import Outgoing
from gateway.flush import CoalescePolicy, FlushScheduler
from gateway.hub import Hub
from gateway.log.memory import MemoryLog
from gateway.metrics import Metrics
from gateway.models import EveryoneTarget, NotificationItem, PublishItem, TopicTarget, UsersTarget
from gateway.service import NotificationService
from tests.support.fakes import FakeTransport

LIMIT = 10_000


class Gateway:
    """The publish path's real parts (memory log, hub, scheduler, service) over fake
    transports, whose writes are recorded as they are made."""

    def __init__(self, count: int, topics: tuple[str, ...] = ()) -> None:
        self.metrics = Metrics()
        self.scheduler = FlushScheduler(asyncio.get_running_loop(), CoalescePolicy(), self.metrics)
        self.service = NotificationService(
            MemoryLog(),
            Hub(),
            self.scheduler,
            max_notification_bytes=64_000,
            max_connections=1000,
            max_connections_per_user=10,
            metrics=self.metrics,
        )
        context = ConnectionContext(self.scheduler, LIMIT, self.service.detach, self.metrics)
        self.transports = [FakeTransport() for _ in range(count)]
        self.conns = [
            Connection(f"u{i}", topics, t, context) for i, t in enumerate(self.transports)
        ]

    async def start(self) -> None:
        await self.service.start()
        for conn in self.conns:
            self.service.attach_now(conn)
            conn.start([Outgoing.control(b"welcome")])
        await asyncio.sleep(0.01)  # the policy's window since the last flush passes

    def notes(self, transport: FakeTransport) -> list[list[str]]:
        """Each write's frames, by the notification id in each (welcome and control as is)."""
        return [[_id_of(frame) for frame in write] for write in transport.writes]


def _id_of(frame: bytes) -> str:
    at = frame.find(b'"id":"')
    return frame.decode() if at < 0 else frame[at + 6 : frame.index(b'"', at + 6)].decode()


def _item(n: int, target: object) -> PublishItem:
    note = NotificationItem(f"n{n}", "t", "title", "body", {}, None, datetime.now(UTC), None, None)
    return PublishItem(target, note)  # type: ignore[arg-type]


async def test_a_lone_broadcast_is_written_during_its_fan_out() -> None:
    gw = Gateway(5)
    await gw.start()
    await gw.service.publish(_item(1, EveryoneTarget()))
    # no loop pass since: the frames were written by the fan-out, not by a flush pass
    assert all(gw.notes(t) == [["welcome"], ["n1"]] for t in gw.transports)
    assert not gw.scheduler.through
    await asyncio.sleep(0)
    assert all(len(t.writes) == 2 for t in gw.transports)  # and no second write
    assert (gw.metrics.flushes, gw.metrics.flushed_publishes) == (1, 1)


async def test_a_topic_publish_writes_through_and_a_per_user_one_queues() -> None:
    gw = Gateway(3, topics=("news",))
    await gw.start()
    await gw.service.publish(_item(1, TopicTarget(topic="news")))
    assert all(gw.notes(t)[-1] == ["n1"] for t in gw.transports)
    await asyncio.sleep(0.01)
    await gw.service.publish(_item(2, UsersTarget(user_ids=("u0",))))
    assert gw.notes(gw.transports[0])[-1] == ["n1"]  # queued: out at the tick's end
    await asyncio.sleep(0)
    assert gw.notes(gw.transports[0])[-1] == ["n2"]


async def test_a_batch_of_broadcasts_is_one_write_per_connection() -> None:
    gw = Gateway(4)
    await gw.start()
    await gw.service.publish_many([_item(n, EveryoneTarget()) for n in range(3)])
    assert all(len(t.writes) == 1 for t in gw.transports)  # nothing written yet
    await asyncio.sleep(0)
    assert all(gw.notes(t) == [["welcome"], ["n0", "n1", "n2"]] for t in gw.transports)


async def test_publishes_streaming_in_still_coalesce() -> None:
    gw = Gateway(4)
    await gw.start()
    await gw.service.publish(_item(1, EveryoneTarget()))  # quiet: written through
    await gw.service.publish(_item(2, EveryoneTarget()))  # right after: queued
    await gw.service.publish(_item(3, EveryoneTarget()))
    await asyncio.sleep(0.02)  # the policy's quiet time passes: one flush for both
    assert all(gw.notes(t) == [["welcome"], ["n1"], ["n2", "n3"]] for t in gw.transports)


async def test_with_frames_waiting_for_a_flush_the_publish_waits_for_it_too() -> None:
    gw = Gateway(3)
    await gw.start()
    gw.conns[1].send(Outgoing.control(b"pong"))  # queued for the tick's end
    await gw.service.publish(_item(1, EveryoneTarget()))
    assert all(gw.notes(t) == [["welcome"]] for t in gw.transports)  # one flush for all
    await asyncio.sleep(0)
    assert gw.notes(gw.transports[1]) == [["welcome"], ["pong", "n1"]]
    assert gw.notes(gw.transports[0]) == [["welcome"], ["n1"]]


async def test_a_connection_with_frames_queued_gets_the_notification_behind_them() -> None:
    gw = Gateway(3)
    await gw.start()
    gw.service.hub.remove(gw.conns[1])  # its pong below must not make the scheduler busy
    gw.conns[1].held = True  # held: what it is sent queues, unmarked, until its start
    gw.conns[1].send(Outgoing.control(b"pong"))
    gw.service.hub.add(gw.conns[1])
    await gw.service.publish(_item(1, EveryoneTarget()))
    assert gw.notes(gw.transports[0])[-1] == ["n1"]  # written through
    assert gw.notes(gw.transports[1]) == [["welcome"]]  # queued behind its pong
    gw.conns[1].start([])
    assert gw.notes(gw.transports[1]) == [["welcome"], ["pong", "n1"]]


async def test_a_held_connection_gets_it_after_its_welcome() -> None:
    gw = Gateway(2)
    await gw.start()
    late = Connection("late", (), FakeTransport(), gw.conns[0]._context)
    gw.service.attach_now(late)  # in the hub, not started: held
    await gw.service.publish(_item(1, EveryoneTarget()))
    assert late.transport.writes == []  # type: ignore[attr-defined]
    late.start([Outgoing.control(b"welcome")])
    assert [[_id_of(f) for f in w] for w in late.transport.writes] == [  # type: ignore[attr-defined]
        ["welcome", "n1"]
    ]


async def test_a_reader_too_far_behind_is_closed_as_by_a_flush() -> None:
    gw = Gateway(3)
    await gw.start()
    gw.transports[2].pending = LIMIT + 1  # the kernel took nothing of earlier writes
    await gw.service.publish(_item(1, EveryoneTarget()))
    assert gw.transports[2].closed_with == (CloseCode.TOO_SLOW, "too slow: send buffer overflow")
    assert gw.notes(gw.transports[2]) == [["welcome"]]
    assert gw.conns[2] not in gw.service.hub
    assert gw.metrics.slow_clients_closed == 1
    assert all(gw.notes(t)[-1] == ["n1"] for t in gw.transports[:2])


async def test_a_publish_partly_written_through_is_counted_as_one_flush() -> None:
    gw = Gateway(3)
    stream = FakeTransport(kind="sse")
    gw.conns.append(SseConnection("sse", (), stream, gw.conns[0]._context))
    await gw.start()
    await gw.service.publish(_item(1, EveryoneTarget()))
    assert all(gw.notes(t)[-1] == ["n1"] for t in gw.transports)  # written through
    assert len(stream.writes) == 1  # the SSE stream's copy queued: the tick's flush pass
    await asyncio.sleep(0)
    assert len(stream.writes) == 2
    assert (gw.metrics.flushes, gw.metrics.flushed_publishes) == (1, 1)


async def test_a_batch_is_told_to_the_policy_and_the_histogram_once_as_entry_by_entry() -> None:
    # the service tallies a batch's entries and tells the policy at the end (service.py,
    # `_told`): the same publishes, recipients, histogram and flush as entry by entry
    gw = Gateway(3, topics=("t",))
    gw.service.attach_now(Connection("u0", (), FakeTransport(), gw.conns[0]._context))
    await gw.start()
    policy = gw.scheduler._policy
    users = [("u0",), ("u1",), ("nobody",), ("u2", "u1"), None, ("u1",)]
    targets = [TopicTarget(topic="t") if u is None else UsersTarget(user_ids=u) for u in users]
    await gw.service.publish_many([_item(n, t) for n, t in enumerate(targets)])
    fan_out = gw.metrics.fanout_connections
    assert (policy.publishes, policy.recipients) == (5, 2 + 1 + 2 + 3 + 1)
    assert (fan_out.count, fan_out.sum) == (6, 9)
    assert fan_out.counts[:4] == [1, 2, 2, 1]  # 0, 1, 2, (2, 5]
    await asyncio.sleep(0)
    assert (gw.metrics.flushes, gw.metrics.flushed_publishes) == (1, 5)
    assert gw.notes(gw.transports[1]) == [["welcome"], ["n1", "n3", "n4", "n5"]]
