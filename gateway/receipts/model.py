"""The values receipts are made of: states, one user's receipt, a notification's receipt,
the feed's updates, and what a watcher asks for.

A receipt is about one notification. For one addressed to users it holds a state per user
(`pending` → `delivered` → `read`, or `undelivered` when its deadline passed first); for a
topic or everyone notification it holds counts of acking users, never a record per user
(a broadcast reaches any number of people). A notification that is not (or no longer)
tracked answers `unknown`: past the bounds the gateway forgets, it never guesses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from gateway.models import Target, TopicTarget, UsersTarget

__all__ = [
    "Audience",
    "Receipt",
    "ReceiptUpdate",
    "State",
    "Tracked",
    "UserReceipt",
    "WatchFilter",
]


class State(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"
    UNKNOWN = "unknown"


class Tracked(NamedTuple):
    """A newly published notification whose receipts are to be kept (from the service).

    A tuple, as `Entry` is: one is made per publish while receipts are on (a frozen
    dataclass cost several times as much to build)."""

    notification_id: str
    type: str
    cursor: str
    target: Target
    published_at: float
    #: Wall-clock seconds by which an addressed user must ack; None: no deadline.
    deadline: float | None

    @property
    def kind(self) -> str:
        """`users`, `topic` or `everyone`."""
        return self.target.kind

    @property
    def topic(self) -> str:
        target = self.target
        return target.topic if type(target) is TopicTarget else ""

    @property
    def users(self) -> tuple[str, ...]:
        """The addressed users, each once (none for a broadcast)."""
        target = self.target
        if type(target) is not UsersTarget:
            return ()
        ids = target.user_ids
        return ids if len(ids) == 1 else tuple(dict.fromkeys(ids))


class UserReceipt(NamedTuple):
    """One addressed user's receipt; a tuple: a new one is made at each change (an ack)."""

    user_id: str
    state: State
    #: Wall-clock seconds of the first ack from any of the user's connections.
    delivered_at: float | None = None
    read_at: float | None = None
    #: When the deadline passed with no ack (kept if a late ack came afterwards).
    undelivered_at: float | None = None


@dataclass(frozen=True, slots=True)
class Audience:
    """A topic or everyone notification: how many distinct users acked and read it.

    Counted exactly up to a bound per notification; `capped` says the bound was reached
    and the counts are "at least".
    """

    delivered: int
    read: int
    capped: bool = False


@dataclass(frozen=True, slots=True)
class Receipt:
    notification_id: str
    #: UNKNOWN when the notification is not tracked (never was, or forgotten); otherwise
    #: the state summed up: the lowest of its users' (pending < undelivered < delivered <
    #: read), or `delivered` once anyone of a broadcast acked.
    state: State
    type: str = ""
    kind: str = ""
    cursor: str = ""
    published_at: float | None = None
    deadline: float | None = None
    users: tuple[UserReceipt, ...] = ()
    audience: Audience | None = None


_RANK = {State.PENDING: 0, State.UNDELIVERED: 1, State.DELIVERED: 2, State.READ: 3}


def overall(users: tuple[UserReceipt, ...], audience: Audience | None) -> State:
    """The one-word summary of a tracked notification (see `Receipt.state`)."""
    if audience is not None:
        if audience.read:
            return State.READ
        return State.DELIVERED if audience.delivered else State.PENDING
    if not users:
        return State.PENDING
    return min((u.state for u in users), key=_RANK.__getitem__)


@dataclass(frozen=True, slots=True)
class ReceiptUpdate:
    """One change on the receipts feed: a user's notification became `state` at `at`.

    Only notifications addressed to users are on the feed (a broadcast's counts are read
    with GetReceipts). `cursor` is the feed's own position: resume after it.
    """

    cursor: str
    notification_id: str
    type: str
    user_id: str
    state: State
    at: float


@dataclass(frozen=True, slots=True)
class WatchFilter:
    """Which updates a watcher wants: by type prefix, by ids, or (both empty) all."""

    type_prefix: str = ""
    ids: frozenset[str] = frozenset()

    def matches(self, notification_id: str, type_: str) -> bool:
        if self.ids and notification_id not in self.ids:
            return False
        return type_.startswith(self.type_prefix)
