"""The memory store's counts for a broadcast (a topic or everyone notification): distinct
users that acked and read it, bounded per notification (`GATEWAY_RECEIPTS_MAX_COUNTED_USERS`),
never a record per user. Apart from memory.py, which keeps one-user and several-user
receipts, by topic."""

from __future__ import annotations

from gateway.receipts.model import Tracked
from gateway.receipts.store import ReadOutcome

__all__ = ["Counts", "addresses", "read_broadcast"]


class Counts:
    """A broadcast's distinct acking and reading users, up to the per-notification bound."""

    __slots__ = ("acked", "capped", "read")

    def __init__(self) -> None:
        self.acked: set[str] = set()
        self.read: set[str] = set()
        self.capped = False


def addresses(item: Tracked, topics: frozenset[str]) -> bool:
    """Whether a broadcast reaches a connection that follows `topics`."""
    topic = item.topic
    return not topic or topic in topics


def read_broadcast(
    item: Tracked, counts: Counts, user_id: str, topics: frozenset[str], max_counted: int
) -> ReadOutcome:
    """A `read` of a broadcast: counted once per user (and as acked), up to the bound."""
    if not addresses(item, topics):
        return ReadOutcome.REFUSED
    if user_id in counts.read:
        return ReadOutcome.REPEATED
    if len(counts.read) >= max_counted:
        counts.capped = True
        return ReadOutcome.REPEATED
    counts.read.add(user_id)
    if user_id not in counts.acked:
        if len(counts.acked) < max_counted:
            counts.acked.add(user_id)
        else:
            counts.capped = True
    return ReadOutcome.COUNTED
