"""Which shard a user lives on: the same in every process, and spread."""

from __future__ import annotations

from gateway.log.shards import shard_index


def test_a_user_lives_on_the_same_shard_in_every_process() -> None:
    """CRC-32 of the id, not Python's per-process salted hash; pinned here, since another
    function would move users to other shards (their cursors would answer complete: false
    once)."""
    names = ("alice", "bob", "eve", "grace")
    assert [shard_index(name, 3) for name in names] == [2, 2, 0, 0]
    assert [shard_index(name, 1) for name in names] == [0, 0, 0, 0]


def test_users_spread_over_the_shards() -> None:
    counts = [0, 0, 0]
    for i in range(3000):
        counts[shard_index(f"user-{i}", 3)] += 1
    assert min(counts) > 900, counts
