"""The receipts tracker (gateway/receipts/tracker.py): acks coalesced per connection, the
queue bounded, a flooding client costing a slot and counted, the deadline sweeper."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.models import UsersTarget
from gateway.receipts.marks import Mark, mark_of
from gateway.receipts.memory import MemoryReceiptStore
from gateway.receipts.model import State, Tracked
from gateway.receipts.tracker import MAX_TYPE_LABELS, OTHER_TYPE, Receipts
from gateway.types import TypeRegistry, load_registry
from tests.support.helpers import ROOT

EXAMPLES = ROOT / "examples" / "types"


def at(n: int) -> Mark:
    found = mark_of(f"e-{n}")
    assert found is not None
    return found


def tracked(nid: str, n: int, user: str, deadline: float | None = None) -> Tracked:
    return Tracked(nid, "a.b", f"e-{n}", UsersTarget(user_ids=(user,)), time.time(), deadline)


async def applied(receipts: Receipts, count: int) -> None:
    for _ in range(200):
        if receipts.stats.acks_applied >= count:
            return
        await asyncio.sleep(0.01)


async def test_a_flood_of_acks_from_one_connection_is_one_slot_and_others_still_count() -> None:
    receipts = Receipts(MemoryReceiptStore(), max_age=60, max_queued=3)
    await receipts.start()
    try:
        await receipts.published([tracked(f"a{i}", i, "alice") for i in range(1, 6)])
        await receipts.published([tracked("b1", 6, "bob")])
        for i in range(1, 6):  # five acks of one connection before the batch is applied
            assert receipts.ack("alice", frozenset(), at(i - 1), at(i))
        assert receipts.ack("bob", frozenset(), at(5), at(6))
        await applied(receipts, 2)
        await asyncio.sleep(0.05)  # nothing more comes
        assert receipts.stats.acks_applied == 2  # coalesced: alice's newest, and bob's
        found = await receipts.get(["a5", "b1"])
        assert [r.state for r in found] == [State.DELIVERED, State.DELIVERED]
        assert receipts.stats.delivered == 6
    finally:
        await receipts.close()


async def test_a_full_queue_drops_and_counts() -> None:
    receipts = Receipts(MemoryReceiptStore(), max_age=60, max_queued=2)  # not started
    assert receipts.ack("a", frozenset(), at(0), at(1))
    assert receipts.ack("b", frozenset(), at(0), at(1))
    assert receipts.ack("a", frozenset(), at(1), at(2))  # the same connection: coalesced
    assert receipts.ack("a", frozenset(), at(0), at(2))  # a second tab of a's: merged
    assert not receipts.ack("c", frozenset(), at(0), at(1))
    assert not receipts.read("c", frozenset(), "x")
    assert receipts.stats.acks_ignored == 2


async def test_acks_of_one_user_merge_only_where_their_ranges_meet() -> None:
    receipts = Receipts(MemoryReceiptStore(), max_age=60)  # not started: nothing drains
    await receipts.published([tracked(f"n{i}", i, "alice") for i in range(1, 8)])
    assert receipts.ack("alice", frozenset(), at(0), at(2))
    assert receipts.ack("alice", frozenset(), at(4), at(6))  # a tab that joined at 4: apart
    assert receipts.ack("alice", frozenset(), at(6), at(7))  # that tab's next ack: merged
    assert receipts.ack("alice", frozenset(), at(2), at(3))  # the first tab's next
    await receipts._apply()
    found = await receipts.get([f"n{i}" for i in range(1, 8)])
    assert [r.state for r in found] == [State.DELIVERED] * 3 + [State.PENDING] + [
        State.DELIVERED
    ] * 3  # n4 was sent to neither range: still pending
    assert receipts.stats.acks_applied == 2


async def test_a_flood_of_reads_is_capped_per_user() -> None:
    receipts = Receipts(MemoryReceiptStore(), max_age=60)  # not started: nothing drains
    accepted = sum(receipts.read("mallory", frozenset(), f"x{i}") for i in range(500))
    assert accepted == 100
    assert receipts.stats.acks_ignored == 400
    assert receipts.read("alice", frozenset(), "n1")  # somebody else is not affected


async def test_a_passed_deadline_is_swept_and_counted() -> None:
    receipts = Receipts(MemoryReceiptStore(), max_age=60, sweep_every=0.05)
    await receipts.start()
    try:
        await receipts.published([tracked("n1", 1, "alice", deadline=time.time() + 0.1)])
        for _ in range(100):
            if receipts.stats.undelivered:
                break
            await asyncio.sleep(0.02)
        assert receipts.stats.undelivered == 1
        (receipt,) = await receipts.get(["n1"])
        assert receipt.state is State.UNDELIVERED
    finally:
        await receipts.close()


def _delivery_samples(receipts: Receipts) -> dict[str, float]:
    """Per `type` label, the observation count the exposition shows."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.registry import Collector

    from gateway.ops.exposition import families

    class One(Collector):
        def collect(self) -> Any:
            return families(receipts.stats)

    registry = CollectorRegistry()
    registry.register(One())
    counts = {}
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("gateway_delivery_seconds_count{"):
            label = line.split('type="', 1)[1].split('"', 1)[0]
            counts[label] = float(line.split()[-1])
    return counts


async def _acked(receipts: Receipts, types: list[str]) -> None:
    published = [
        Tracked(f"n{i}", t, f"e-{i + 1}", UsersTarget(user_ids=("alice",)), time.time(), None)
        for i, t in enumerate(types)
    ]
    await receipts.published(published)
    assert receipts.ack("alice", frozenset(), at(0), at(len(types)))
    await receipts._apply()


async def test_the_delivery_histogram_is_labelled_by_registered_type_else_other() -> None:
    registry = TypeRegistry(load_registry(EXAMPLES), "registered")
    receipts = Receipts(MemoryReceiptStore(), max_age=60, types=registry)
    await _acked(receipts, ["order.shipped", "order.shipped", "order.created", "made.up", "x.y"])
    assert _delivery_samples(receipts) == {"order.shipped": 2, "order.created": 1, "other": 2}


async def test_without_a_registry_the_type_label_stays_bounded() -> None:
    receipts = Receipts(MemoryReceiptStore(), max_age=60)
    await _acked(receipts, [f"t.n{i}" for i in range(MAX_TYPE_LABELS + 10)])
    samples = _delivery_samples(receipts)
    assert len(samples) == MAX_TYPE_LABELS + 1  # the first 50 by name, the rest "other"
    assert samples[OTHER_TYPE] == 10
    assert samples["t.n0"] == 1


async def test_acks_that_come_over_several_loop_passes_are_applied_in_one_batch() -> None:
    """The ack task gathers for `gather` seconds after the first ack of a batch: one store
    call for acks read in several event-loop passes (a batch costs more than an ack)."""
    store = MemoryReceiptStore()
    calls: list[int] = []
    apply = store.apply

    async def counted(acks: list[Any], reads: list[Any], now: float) -> Any:
        calls.append(len(acks))
        return await apply(acks, reads, now)

    store.apply = counted  # type: ignore[method-assign]
    receipts = Receipts(store, max_age=60, gather=0.2)
    await receipts.start()
    try:
        await receipts.published([tracked(f"n{i}", i, f"u{i}") for i in range(1, 4)])
        for i in range(1, 4):  # one ack per loop pass, as connections' acks are read
            assert receipts.ack(f"u{i}", frozenset(), at(i - 1), at(i))
            await asyncio.sleep(0.01)
        await applied(receipts, 3)
        assert calls == [3]
        assert receipts.stats.delivered == 3
    finally:
        await receipts.close()
