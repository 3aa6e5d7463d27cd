"""Where receipts live: the interface both stores keep (memory and Redis).

Contract:
- `track` records newly published notifications (applying any ack that already covered
  them: the order of a TRACK and an ack is not the order of publish and ack on Redis);
  the store keeps at most `max_tracked`
  of them for at most `max_age` seconds, forgetting the oldest first; a forgotten (or
  never tracked) id answers `unknown` in `get`, never a wrong state;
- `apply(acks, reads)` applies a batch; an `Ack(user, topics, floor, upto)` is one
  connection's cumulative ack (or several of the user's, merged): every tracked
  notification addressed to `user` (or, for a topic, to one of `topics`; or to everyone)
  whose cursor is in `(floor, upto]` was delivered to it. The caller vouches for the range
  (it is what the connection was sent); the store counts each user once;
- `read(user, topics, id)` says the person saw it; an id not addressed to them is refused;
- `expire(now)` marks every addressed user with no ack by a passed deadline `undelivered`,
  once, whichever replica calls it;
- every change of a user's state is appended to a bounded feed whose cursors a watcher
  resumes from (`read_feed`); a cursor older than what the feed retains reads as
  `complete=False` from the oldest it has.
A store that cannot reach its backend raises `BackendUnavailable` (the log's).
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import NamedTuple

from gateway.log.cursor import Cursor
from gateway.receipts.marks import Mark, mark
from gateway.receipts.model import Receipt, ReceiptUpdate, Tracked

__all__ = ["Ack", "Applied", "FeedPage", "Read", "ReadOutcome", "ReceiptStore"]


class ReadOutcome(enum.Enum):
    COUNTED = "counted"
    #: Already read: nothing changes (a second tab marking it too).
    REPEATED = "repeated"
    #: Not addressed to this user, or not tracked: ignored.
    REFUSED = "refused"


class Ack(NamedTuple):
    """A cumulative ack: the user was sent everything of theirs in `(floor, upto]`.

    A tuple (one is made per ack a client sends; a frozen dataclass cost more than the
    rest of queuing it)."""

    user_id: str
    topics: frozenset[str]
    floor: Mark
    upto: Mark


@dataclass(frozen=True, slots=True)
class Read:
    user_id: str
    topics: frozenset[str]
    notification_id: str


@dataclass(slots=True)
class Applied:
    """What a batch of acks and reads did: the publish time and type of each notification
    that turned delivered for a user (the publish-to-ack histogram, by type), as
    `(published_at, type)` pairs (`published`) or as the store's own `Tracked` tuples
    (`delivered`: the memory store hands those rather than make a pair for each, ~0.25k
    instructions an ack), and how many reads were refused."""

    published: list[tuple[float, str]]
    refused: int = 0
    delivered: list[Tracked] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FeedPage:
    updates: list[ReceiptUpdate]
    #: Where to read on from (the last update's cursor, or the cursor asked with).
    cursor: str
    #: False when updates after the cursor asked with were already dropped from the feed.
    complete: bool = True


class ReceiptStore(abc.ABC):
    @property
    def healthy(self) -> bool:
        return True

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; the memory store has nothing to do."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and wake waiting feed readers."""

    @abc.abstractmethod
    async def track(self, items: list[Tracked]) -> list[tuple[float, str]]:
        """Start keeping receipts for `items` (in cursor order). An ack that came before
        (on Redis another replica's client may ack a live message before the publishing
        replica's TRACK lands) still counts: per user it covered, its publish-to-ack
        seconds and the item's type are returned (for the histogram)."""

    async def ack(
        self,
        user_id: str,
        topics: frozenset[str],
        floor: Cursor,
        upto: Cursor,
        now: float,
    ) -> list[float]:
        """Mark what `(floor, upto]` covers delivered; the publish times of each
        notification newly delivered to this user (for the publish-to-ack histogram)."""
        acks = [Ack(user_id, topics, mark(floor), mark(upto))]
        applied = await self.apply(acks, [], now)
        return [item.published_at for item in applied.delivered] + [
            published for published, _ in applied.published
        ]

    @abc.abstractmethod
    async def read(
        self, user_id: str, topics: frozenset[str], notification_id: str, now: float
    ) -> ReadOutcome:
        """The person `user_id` saw `notification_id` (which implies delivered)."""

    @abc.abstractmethod
    async def apply(self, acks: list[Ack], reads: list[Read], now: float) -> Applied:
        """A batch of acks then reads, in order, in one go (one round trip on Redis)."""

    @abc.abstractmethod
    async def get(self, ids: list[str]) -> list[Receipt]:
        """One receipt per id, in order (`unknown` for any not tracked)."""

    @abc.abstractmethod
    async def expire(self, now: float) -> int:
        """Mark users whose deadline passed with no ack `undelivered`; how many."""

    @abc.abstractmethod
    async def read_feed(self, after: str | None, wait: float, limit: int) -> FeedPage:
        """Feed updates after `after` (None: from now on), at most `limit`; when there are
        none yet, wait up to `wait` seconds for some."""

    @abc.abstractmethod
    def is_feed_cursor(self, text: str) -> bool:
        """Whether `text` is shaped like one of this store's feed cursors."""
