"""The log interface: append → cursor; read since a cursor; follow new entries in order.

Contract every implementation keeps:
- cursors are opaque strings, increasing in append order, unique within the log;
- `append` takes a batch: many notifications for one round of fixed costs;
- `follower` is called once per entry, in cursor order, on the event loop; it returns how
  many local connections the entry was handed to;
- `read_since(since, until)` returns the retained entries after `since` up to and including
  `until` (a cursor the caller got from `head()`), and says whether anything in that range
  was already evicted (`complete=False`), including when `since` is not a cursor of this log.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from gateway.models import Target

__all__ = ["AppendResult", "Draft", "Entry", "Follower", "NotificationLog", "Replay"]


class Entry(NamedTuple):
    """One accepted notification. A tuple: made once per publish, on the hot path."""

    cursor: str
    target: Target
    notification_id: str
    #: The notification's JSON object, encoded once at publish.
    body: bytes
    #: Wall-clock seconds after which it is no longer replayed (from its ttl), or None.
    replay_until: float | None


class Draft(NamedTuple):
    """What `append` needs of a notification that has no cursor yet."""

    target: Target
    notification_id: str
    body: bytes
    ttl: timedelta | None


class AppendResult(NamedTuple):
    cursor: str
    #: Local connections it was handed to; 0 for a duplicate.
    delivered: int
    #: The id was already in the log: nothing was appended, `cursor` is the first one.
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Replay:
    entries: list[Entry]
    #: False when entries after `since` were evicted (or `since` is unknown here).
    complete: bool


Follower = Callable[[Entry], int]


class NotificationLog(abc.ABC):
    """Ordered, bounded notification history that also fans new entries out to a follower."""

    def __init__(self) -> None:
        self._follower: Follower = lambda entry: 0

    def follow(self, follower: Follower) -> None:
        """Set the one callback that receives every new entry (the replica's fan-out)."""
        self._follower = follower

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect and start following; the memory log has nothing to do."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop following and release connections."""

    @abc.abstractmethod
    async def append(self, drafts: list[Draft]) -> list[AppendResult]:
        """Append notifications in order; one result each, in the same order.

        A draft whose id is already retained (or repeated earlier in `drafts`) is not
        appended: its result carries the first cursor and `duplicate=True`. One call per
        batch lets an implementation pay its fixed costs (a clock read, a round trip) once.
        """

    @abc.abstractmethod
    def head(self) -> str:
        """The cursor of the newest entry handed to the follower (a start cursor if none)."""

    @abc.abstractmethod
    def is_cursor(self, text: str) -> bool:
        """Whether `text` is shaped like a cursor of this kind of log (for early 400s)."""

    @abc.abstractmethod
    async def read_since(self, since: str, until: str) -> Replay:
        """Retained entries in (since, until], oldest first; see the module contract."""
