"""The memory receipt store's id index, built when an id is looked up (`_index`), not as
each notification is tracked: whatever mix of tracking, forgetting and lookups came
first, `get` answers each id as a store indexing eagerly would, with the later of two
notifications published under one id (an id the log had forgotten is a new publish), and
`unknown` once that one is forgotten."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from gateway.receipts.memory import MemoryReceiptStore
from gateway.receipts.model import State, Tracked
from gateway.receipts.store import Ack, ReadOutcome
from tests.unit.test_speedups_receipts_store import _NOW, _PROPERTY, _TARGETS

_IDS = ["n0", "n1", "n2", "n3"]

#: One step: track a notification under this id (acked or not), or look every id up.
_step = st.one_of(st.tuples(st.sampled_from(_IDS), st.booleans()), st.just(None))


@_PROPERTY
@given(st.lists(_step, max_size=30), st.integers(1, 6))
def test_every_lookup_answers_the_latest_kept_notification_of_its_id(
    steps: list[tuple[str, bool] | None], bound: int
) -> None:
    async def run() -> None:
        store = MemoryReceiptStore(max_tracked=bound)
        #: the model: per seq tracked, its id and whether it was acked
        kept: list[tuple[str, bool]] = []
        for step in steps:
            if step is None:
                await check(store, kept)
                continue
            nid, acked = step
            n = len(kept) + 1
            await store.track([Tracked(nid, "a.b", f"e-{n}", _TARGETS["a"], _NOW, None)])
            if acked:
                ack = Ack("a", frozenset(), ("e", 0, n - 1), ("e", 0, n))
                await store.apply([ack], [], 5.0)
            kept.append((nid, acked))
        await check(store, kept)

    async def check(store: MemoryReceiptStore, kept: list[tuple[str, bool]]) -> None:
        live = kept[max(0, len(kept) - bound) :]  # the newest `bound` are kept
        latest = {nid: acked for nid, acked in live}  # later ones win
        receipts = await store.get(_IDS)
        for nid, receipt in zip(_IDS, receipts, strict=True):
            if nid not in latest:
                assert receipt.state is State.UNKNOWN
            else:
                assert receipt.state is (State.DELIVERED if latest[nid] else State.PENDING)
        assert set(store._ids) == set(latest)

    asyncio.run(run())


def test_tracking_indexes_nothing_until_a_lookup() -> None:
    async def run() -> None:
        store = MemoryReceiptStore(max_tracked=10)
        items = [Tracked(f"n{i}", "a.b", f"e-{i + 1}", _TARGETS["a"], _NOW, None) for i in range(3)]
        await store.track(items)
        assert store._ids == {}
        assert await store.read("a", frozenset(), "n1", 5.0) is ReadOutcome.COUNTED
        assert store._ids == {"n0": 0, "n1": 1, "n2": 2}

    asyncio.run(run())
