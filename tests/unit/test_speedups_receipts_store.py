"""The memory receipt store's compiled loops (gateway/csrc/receipts_store.c) against their
twins: `track_users` and `apply_acks` (gateway/receipts/memory_loops.py) and
`tracked_items` (gateway/receipts/tracker.py's `tracked_py`).

Hypothesis runs the C and the twin on copies of one store state, with items and acks of
every kind the store meets (one user or several, a topic, a deadline, an id published
again, cursors out of order or not of the common shape; acks covering nothing, part of
a user's list or all of it, below or past it): the same answer, the same state after.
The store itself is also run whole with either, its receipts and feed compared.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.log.base import AppendResult, Draft
from gateway.models import NotificationItem, PublishItem, TopicTarget, UsersTarget
from gateway.receipts import memory_loops, tracker
from gateway.receipts.marks import cursor_mark
from gateway.receipts.memory import MemoryReceiptStore
from gateway.receipts.memory_counts import Counts
from gateway.receipts.memory_loops import apply_acks_py, track_users_py
from gateway.receipts.model import State, Tracked, UserReceipt
from gateway.receipts.rec import Rec, RecPy
from gateway.receipts.store import Ack
from gateway.receipts.tracker import observe_py, tracked_py
from gateway.speedups import FORCED_OFF
from tests.support.leaks import assert_no_leak

_PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))

needs_c = pytest.mark.skipif(
    memory_loops.track_users is track_users_py,
    reason="gateway._receipts is not built (or turned off)",
)

_PENDING = UserReceipt("", State.PENDING)
_USERS = ["a", "b", "c"]
_TARGETS = {u: UsersTarget(user_ids=(u,)) for u in _USERS}
#: Publish times within the store's age bound (a track forgets what is past it).
_NOW = time.time()
_AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_loops_are_compiled_unless_turned_off() -> None:
    assert (memory_loops.track_users is track_users_py) == FORCED_OFF
    assert (memory_loops.apply_acks is apply_acks_py) == FORCED_OFF
    assert (tracker._tracked_items is None) == FORCED_OFF
    assert (tracker.observe is observe_py) == FORCED_OFF


@st.composite
def _items(draw: st.DrawFn) -> list[Tracked]:
    """Tracked notifications as the service hands them, with every uncommon kind mixed in."""
    count = draw(st.integers(0, 12))
    n = draw(st.integers(1, 5))
    items = []
    for i in range(count):
        n += draw(st.sampled_from([1, 1, 1, 2, 0, -2]))  # mostly in order
        kind = draw(st.integers(0, 9))
        target: Any = _TARGETS[draw(st.sampled_from(_USERS))]
        if kind == 0:
            target = UsersTarget(
                user_ids=tuple(draw(st.lists(st.sampled_from(_USERS), min_size=2, max_size=3)))
            )
        elif kind == 1:
            target = TopicTarget(topic="t")
        cursor = f"e-{max(n, 0)}"
        if kind == 2:
            # another epoch, an ms, a sequence past a C long long (compared as tuples), an
            # epoch that is itself `<epoch>.<ms>` as a store, one too long
            cursor = draw(
                st.sampled_from(
                    [
                        "e.5-1",
                        "E-1",
                        "e-01",
                        "f-3",
                        "e-9223372036854775807",
                        "e-" + "9" * 19,
                        "e-" + "9" * 20,
                        "e.1.5-3",
                        "e.1-9",
                        "e.1-" + "9" * 19,
                        "x" * 40 + "-1",
                        "x" * 41 + "-1",
                    ]
                )
            )
        nid = draw(st.sampled_from([f"n{i}", f"n{i}", "n0", "x"]))
        deadline = 1e9 if kind == 3 else None
        items.append(Tracked(nid, "a.b", cursor, target, _NOW + i, deadline))
    return items


def _plain(slot: object) -> object:
    if isinstance(slot, Counts):  # no __eq__ of its own
        return ("counts", sorted(slot.acked), sorted(slot.read), slot.capped)
    return slot


def _state(store: MemoryReceiptStore) -> tuple[Any, ...]:
    return (
        store._ids,
        store._items,
        [_plain(slot) for slot in store._slots],
        store._waiting,
        store._next,
        store._last_at,
        store._deadlines,
        store._broadcast_at,
        store._broadcast_seqs,
        list(store._feed.entries),
    )


async def _tracked_store(items: list[Tracked]) -> MemoryReceiptStore:
    store = MemoryReceiptStore(max_tracked=1000)
    await store.track(items)
    return store


def _track_args(store: MemoryReceiptStore, items: list[Tracked], start: int) -> list[Any]:
    return [
        items,
        start,
        store._items,
        store._slots,
        store._waiting,
        store._next,
        store._last_at,
        _PENDING,
        UsersTarget,
    ]


@needs_c
@_PROPERTY
@given(_items(), _items(), st.integers(0, 3))
def test_the_c_track_loop_does_what_its_twin_does(
    before: list[Tracked], items: list[Tracked], start: int
) -> None:
    store = asyncio.run(_tracked_store(before))
    twin = copy.deepcopy(store)
    answer = memory_loops.track_users(*_track_args(store, items, start))
    expected = track_users_py(*_track_args(twin, items, start))
    assert answer == expected
    assert _state(store)[:4] == _state(twin)[:4]


@needs_c
@pytest.mark.parametrize(
    "cursors",
    [
        ["e-1", "e-2", "e-10", "e-9"],  # the short cut, then one out of order
        ["e.1.5-3", "e.1-9", "e.1-10"],  # an epoch that splits as a store: read in full
        ["e.7-1", "e-2", "e-3"],  # the epoch of a split store, then plain cursors of it
        ["e-5", "f-1", "f-2", "e-6"],  # another epoch (compared as tuples), and back
        ["e-9223372036854775806", "e-9223372036854775807", "e-9223372036854775808"],
        ["e-" + "9" * 18, "e-" + "9" * 19, "e-" + "9" * 20],
        ["e-1", "e-2x", "e-3"],  # not a cursor of the common shape: the loop stops
        ["x" * 40 + "-1", "x" * 40 + "-2", "x" * 41 + "-3"],
    ],
)
@pytest.mark.parametrize("last_at", [None, ("e", 0, 0), ("e.1", 0, 0), ("E", 0, 0)])
def test_the_track_loop_reads_each_cursor_as_its_twin(
    cursors: list[str], last_at: tuple[str, int, int] | None
) -> None:
    """The C loop's short cut for a cursor of the last mark's epoch (plain_mark) makes the
    marks common_mark and the twin make, and stops where they stop."""
    store = _track_both(cursors, last_at)
    recs = [rec for queue in store._waiting.values() for rec in queue]
    assert not any(gc.is_tracked(rec) for rec in recs)
    assert not gc.is_tracked(store._last_at)


def _track_both(cursors: list[str], last_at: tuple[str, int, int] | None) -> MemoryReceiptStore:
    """Track one notification per cursor with the C loop and with its twin, each on its own
    store after `last_at`: the same answer and state (the C one's store returned)."""
    items = [
        Tracked(f"n{i}", "a.b", cursor, _TARGETS["a"], _NOW, None)
        for i, cursor in enumerate(cursors)
    ]
    store = MemoryReceiptStore(max_tracked=1000)
    store._last_at = last_at
    twin = copy.deepcopy(store)
    answer = memory_loops.track_users(*_track_args(store, items, 0))
    assert answer == track_users_py(*_track_args(twin, items, 0))
    assert _state(store)[:4] == _state(twin)[:4]
    return store


_cursors = st.one_of(
    st.from_regex(r"[0-9a-z.]{1,42}-[0-9]{1,20}", fullmatch=True),
    st.from_regex(r"e(\.[0-9]{1,21})?(\.[0-9]{1,2})?-[0-9]{1,20}", fullmatch=True),
    st.from_regex(r"e-[0-9]{1,20}", fullmatch=True),
    st.text(max_size=8),
)


@needs_c
@_PROPERTY
@given(st.lists(_cursors, max_size=8), st.one_of(st.none(), st.builds(cursor_mark, _cursors)))
def test_the_track_loop_reads_any_cursor_as_its_twin(
    cursors: list[str], last_at: tuple[str, int, int] | None
) -> None:
    _track_both(cursors, last_at)


@st.composite
def _acks(draw: st.DrawFn) -> list[Ack]:
    acks = []
    for _ in range(draw(st.integers(0, 6))):
        low = draw(st.integers(0, 14))
        high = low + draw(st.integers(0, 8))
        epoch = draw(st.sampled_from(["e", "e", "e", "f"]))
        acks.append(
            Ack(
                draw(st.sampled_from([*_USERS, "z"])),
                frozenset(),
                (epoch, 0, low),
                (epoch, 0, high),
            )
        )
    return acks


def _apply_args(store: MemoryReceiptStore, acks: list[Ack], published: list[Any]) -> list[Any]:
    return [
        acks,
        store._waiting,
        store._slots,
        store._items,
        store._base,
        published,
        store._feed.entries.append,
        UserReceipt,
        State.DELIVERED,
        5.0,
    ]


@needs_c
@_PROPERTY
@given(_items(), _acks())
def test_the_c_apply_loop_does_what_its_twin_does(items: list[Tracked], acks: list[Ack]) -> None:
    store = asyncio.run(_tracked_store(items))
    twin = copy.deepcopy(store)
    published: list[Any] = []
    published_twin: list[Any] = []
    count = memory_loops.apply_acks(*_apply_args(store, acks, published))
    assert count == apply_acks_py(*_apply_args(twin, acks, published_twin))
    assert published == published_twin
    assert _state(store) == _state(twin)


async def _run_store(items: list[Tracked], acks: list[Ack]) -> tuple[Any, ...]:
    store = MemoryReceiptStore(max_tracked=1000)
    await store.track(items)
    applied = await store.apply(acks, [], 5.0)
    receipts = await store.get(sorted({item.notification_id for item in items}))
    return applied.delivered, applied.published, receipts, list(store._feed.entries)


@needs_c
@_PROPERTY
@given(_items(), _acks())
def test_the_store_answers_the_same_with_either(items: list[Tracked], acks: list[Ack]) -> None:
    compiled = asyncio.run(_run_store(items, acks))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("gateway.receipts.memory.track_users", track_users_py)
        patch.setattr("gateway.receipts.memory.apply_acks", apply_acks_py)
        assert asyncio.run(_run_store(items, acks)) == compiled


def _publish(n: int, user: str) -> tuple[PublishItem, Draft]:
    target = _TARGETS[user]
    note = NotificationItem(f"n{n}", "a.b", "", "", {}, None, _AT, None, None)
    return PublishItem(target, note), Draft(target, f"n{n}", b"{}", None, 1e9 if n % 3 else None)


@needs_c
@_PROPERTY
@given(
    st.lists(st.tuples(st.sampled_from(_USERS), st.booleans(), st.booleans()), max_size=10),
    st.integers(-1, 1),
)
def test_the_c_tracked_items_are_the_twins(
    outcomes: list[tuple[str, bool, bool]], misfit: int
) -> None:
    pairs = [_publish(n, user) for n, (user, _, _) in enumerate(outcomes)]
    items = [item for item, _ in pairs]
    drafts = [draft for _, draft in pairs]
    results = [AppendResult(f"e-{n}", 1, dup, con) for n, (_, dup, con) in enumerate(outcomes)]
    if misfit and results:  # zip(strict=True) refuses lists of different lengths
        (results if misfit > 0 else drafts).pop()
    try:
        expected: object = tracked_py(items, drafts, results, 2.0)
    except ValueError:
        expected = ValueError
    try:
        made: object = tracker.tracked(items, drafts, results, 2.0)
    except ValueError:
        made = ValueError
    assert made == expected
    if isinstance(made, list):
        assert all(type(one) is Tracked for one in made)


@needs_c
def test_what_the_store_keeps_is_out_of_the_gcs_sight_and_still_freed() -> None:
    """Nothing the C makes can be in a cycle (see receipts_store.c's `untracked`)."""
    item, draft = _publish(1, "a")
    (one,) = tracker.tracked([item], [draft], [AppendResult("e-1", 1)], _NOW)
    assert not gc.is_tracked(one)
    mark = cursor_mark("e-1")
    assert mark is not None and not gc.is_tracked(mark)
    store = asyncio.run(_tracked_store([one]))
    asyncio.run(store.apply([Ack("a", frozenset(), ("e", 0, 0), mark)], [], 5.0))
    receipt = store._slots[0]
    assert type(receipt) is UserReceipt and receipt.state is State.DELIVERED
    assert not gc.is_tracked(receipt) and not gc.is_tracked(store._feed.entries[0])


def _leak_state() -> tuple[MemoryReceiptStore, list[Tracked]]:
    store = MemoryReceiptStore(max_tracked=100_000)
    return store, [
        Tracked("n1", "a.b", "e-1", _TARGETS["a"], _NOW, None),
        Tracked("n2", "a.b", "e-2", UsersTarget(user_ids=("a", "b")), _NOW, None),
    ]


@needs_c
def test_the_loops_leak_nothing() -> None:
    store, items = _leak_state()
    n = [0]

    def track_and_ack() -> None:
        n[0] += 1
        first = Tracked(f"n{n[0]}", "a.b", f"e-{n[0]}", _TARGETS["a"], _NOW, None)
        _, store._next, store._last_at = memory_loops.track_users(
            *_track_args(store, [first, items[1]], 0)
        )
        ack = Ack("a", frozenset(), ("e", 0, n[0] - 1), ("e", 0, n[0]))
        memory_loops.apply_acks(*_apply_args(store, [ack], []))
        store._feed.entries.clear()
        store._ids.clear()
        store._items.clear()
        store._slots.clear()
        store._waiting.clear()
        store._base = store._next

    assert_no_leak(track_and_ack, [items[0], items[1], _TARGETS["a"], _PENDING, State.DELIVERED])
    item, draft = _publish(1, "a")
    results = [AppendResult("e-1", 1)]
    assert_no_leak(lambda: tracker.tracked([item], [draft], results, 2.0), [item, draft])


@needs_c
@_PROPERTY
@given(
    st.integers(0, 2**40),
    st.tuples(st.sampled_from(["e", "f"]), st.integers(0, 2**70), st.integers(-(2**70), 2**70)),
)
def test_a_c_rec_reads_as_its_twin(seq: int, mark: tuple[str, int, int]) -> None:
    """The compiled Rec answers seq and mark as RecPy does, whether its mark's ints fit the
    numbers it holds or it keeps the tuple; equal Recs compare equal; copies are itself."""
    made = Rec(seq, mark)
    assert type(made) is not RecPy
    assert (made.seq, made.mark) == tuple(RecPy(seq, mark))
    assert made == Rec(seq, mark) and made != Rec(seq + 1, mark)
    assert copy.deepcopy(made) is made and not gc.is_tracked(made)
