"""`GcPolicy`: long-lived objects are frozen, and the periodic sweep still frees their cycles."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator

import pytest

from gateway.gc_policy import YOUNG_THRESHOLD, GcPolicy


class Node:
    def __init__(self) -> None:
        self.other: object = self


@pytest.fixture
async def policy() -> AsyncIterator[GcPolicy]:
    policy = GcPolicy(sweep_seconds=0.2)
    policy.start()
    try:
        yield policy
    finally:
        policy.stop()


async def test_start_freezes_what_exists(policy: GcPolicy) -> None:
    assert gc.get_freeze_count() > 0
    assert policy._on_gc in gc.callbacks


async def test_survivors_of_a_full_collection_are_frozen(policy: GcPolicy) -> None:
    before = gc.get_freeze_count()
    survivors = [Node() for _ in range(100)]
    gc.collect()
    assert gc.get_freeze_count() >= before + len(survivors)


async def test_the_sweep_frees_cycles_among_frozen_objects(policy: GcPolicy) -> None:
    node = Node()
    gc.collect()  # now frozen: plain full collections no longer look at it
    watched = weakref.ref(node)
    del node
    gc.collect()
    assert watched() is not None
    for _ in range(60):  # the sweep (every 0.2 s here) unfreezes and collects
        if watched() is None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the cycle outlived three seconds of sweeps")


async def test_stop_unfreezes_and_leaves_the_gc_as_it_was() -> None:
    before = gc.get_threshold()
    policy = GcPolicy(sweep_seconds=60.0)
    policy.start()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    policy.stop()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
    assert policy._on_gc not in gc.callbacks
    policy.stop()  # twice is harmless
