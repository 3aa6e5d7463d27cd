"""The memory receipt store's compiled forgetting (gateway/csrc/receipts_forget.c) against
its twin, `forget_oldest_py` (gateway/receipts/memory_forget.py).

Hypothesis runs the C and the twin on copies of one store state (notifications of every
kind, some acked: users' lists emptied and kept, part taken, untouched) with bounds that
forget none, some or all of them: the same answer, the same state after. The store run
whole with either forgets the oldest first and answers `unknown` for what it forgot, never
a wrong state.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.models import UsersTarget
from gateway.receipts import memory_forget
from gateway.receipts.memory import _TRIM, MemoryReceiptStore
from gateway.receipts.memory_forget import forget_oldest_py
from gateway.receipts.model import State, Tracked
from gateway.receipts.store import Ack
from gateway.speedups import FORCED_OFF
from tests.support.leaks import assert_no_leak
from tests.unit.test_speedups_receipts_store import (
    _NOW,
    _PROPERTY,
    _TARGETS,
    _acks,
    _items,
    _state,
)

needs_c = pytest.mark.skipif(
    memory_forget.forget_oldest is forget_oldest_py,
    reason="gateway._receipts is not built (or turned off)",
)


def test_the_loop_is_compiled_unless_turned_off() -> None:
    assert (memory_forget.forget_oldest is forget_oldest_py) == FORCED_OFF


async def _acked_store(
    items: list[Tracked], acks: list[Ack], indexed: int = 0
) -> MemoryReceiptStore:
    """The items tracked and the acks applied, the ids of the first `indexed` items
    indexed (as a lookup between two tracks leaves them), the rest not yet."""
    store = MemoryReceiptStore(max_tracked=1000)
    await store.track(items[:indexed])
    store._index()
    await store.track(items[indexed:])
    await store.apply(acks, [], 5.0)
    return store


def _forget_args(store: MemoryReceiptStore, max_tracked: int, horizon: float) -> list[Any]:
    return [
        store._items,
        store._slots,
        store._ids,
        store._waiting,
        store._broadcast_at,
        store._broadcast_seqs,
        store._gone,
        store._base,
        store._indexed,
        max_tracked,
        horizon,
        UsersTarget,
        (State.DELIVERED, State.READ),
    ]


@needs_c
@_PROPERTY
@given(_items(), _acks(), st.integers(0, 14), st.integers(-1, 13), st.integers(0, 12))
def test_the_c_forget_loop_does_what_its_twin_does(
    items: list[Tracked], acks: list[Ack], max_tracked: int, age: int, indexed: int
) -> None:
    store = asyncio.run(_acked_store(items, acks, indexed))
    twin = copy.deepcopy(store)
    horizon = _NOW + age + 0.5  # items are published at _NOW + their index
    gone = memory_forget.forget_oldest(*_forget_args(store, max_tracked, horizon))
    assert gone == forget_oldest_py(*_forget_args(twin, max_tracked, horizon))
    assert _state(store) == _state(twin)


async def _run_store(items: list[Tracked], acks: list[Ack], bound: int) -> tuple[Any, ...]:
    store = MemoryReceiptStore(max_tracked=bound)
    for item in items:  # one at a time: every track forgets past the bound
        await store.track([item])
        await store.apply(acks, [], 5.0)
    ids = sorted({item.notification_id for item in items})
    return await store.get(ids), store._waiting, list(store._feed.entries)


@needs_c
@_PROPERTY
@given(_items(), _acks(), st.integers(1, 6))
def test_the_store_forgets_the_same_with_either(
    items: list[Tracked], acks: list[Ack], bound: int
) -> None:
    compiled = asyncio.run(_run_store(items, acks, bound))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("gateway.receipts.memory.forget_oldest", forget_oldest_py)
        assert asyncio.run(_run_store(items, acks, bound)) == compiled


@_PROPERTY
@given(st.integers(1, 8), st.integers(0, 20), st.sets(st.integers(0, 19)))
def test_the_oldest_are_forgotten_first_and_read_unknown(
    bound: int, count: int, acked: set[int]
) -> None:
    """Past the bound the oldest read `unknown`, never a wrong state; the rest are as they
    were (delivered if acked); no user's waiting list outlives its notifications."""

    async def run() -> None:
        store = MemoryReceiptStore(max_tracked=bound)
        for n in range(count):
            user = f"u{n % 3}"
            item = Tracked(f"n{n}", "a.b", f"e-{n + 1}", _TARGETS["a"], _NOW + n, None)
            item = item._replace(target=UsersTarget(user_ids=(user,)))
            await store.track([item])
            if n in acked:
                await store.apply([Ack(user, frozenset(), ("e", 0, n), ("e", 0, n + 1))], [], 5.0)
        receipts = await store.get([f"n{n}" for n in range(count)])
        for n, receipt in enumerate(receipts):
            if n < count - bound:
                assert receipt.state is State.UNKNOWN
            else:
                assert receipt.state is (State.DELIVERED if n in acked else State.PENDING)
        waiting = {rec.seq for queue in store._waiting.values() for rec in queue}
        assert waiting == {n for n in range(max(0, count - bound), count) if n not in acked}
        store._max_age = -100.0  # everything is past the age bound now
        await store.get([])
        assert store._waiting == {} and store._ids == {}

    asyncio.run(run())


def test_the_lists_acks_emptied_are_dropped_when_the_store_trims() -> None:
    """Forgetting an acked notification does not look its user up, so the empty lists of
    users who acked everything wait for the next trim: as many at most as the users of
    the notifications forgotten between two trims, however many users come and go."""

    async def run() -> None:
        store = MemoryReceiptStore(max_tracked=10)
        most = 0
        for n in range(5000):
            user = f"u{n}"  # every notification to a user never seen again
            item = Tracked(f"n{n}", "a.b", f"e-{n + 1}", UsersTarget(user_ids=(user,)), _NOW, None)
            await store.track([item])
            await store.apply([Ack(user, frozenset(), ("e", 0, n), ("e", 0, n + 1))], [], 5.0)
            most = max(most, len(store._waiting))
        assert most <= _TRIM + 10 + 1
        assert sum(1 for queue in store._waiting.values() if queue) == 0

    asyncio.run(run())


def _done(coroutine: Any) -> Any:
    """A store coroutine that never suspends, run to its end without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the memory store suspended")  # pragma: no cover


@needs_c
def test_the_forget_loop_leaks_nothing() -> None:
    pair, one = UsersTarget(user_ids=("a", "b")), UsersTarget(user_ids=("a",))
    ack = Ack("a", frozenset(), ("e", 0, 0), ("e", 0, 3))

    def track_ack_forget() -> None:
        store = MemoryReceiptStore(max_tracked=2)
        for i in range(6):
            target = one if i % 2 else pair
            _done(store.track([Tracked(f"n{i}", "a.b", f"e-{i + 1}", target, _NOW, None)]))
            if i == 2:
                _done(store.apply([ack], [], 5.0))
        store._max_age = -100.0
        store._forget(_NOW)
        assert store._gone == 6 and not store._waiting

    assert_no_leak(track_ack_forget, [pair, one, ack])
