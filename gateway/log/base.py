"""The log interface: append → cursor; read since a cursor; follow new entries in order.

Contract every implementation keeps:
- cursors are opaque strings, increasing in append order, unique within the log;
- `append` takes a batch: many notifications for one round of fixed costs;
- `follower` is called once per entry, in cursor order, on the event loop; it returns how
  many local connections the entry was handed to;
- `read_since(since, until)` returns the retained entries after `since` up to and including
  `until` (a cursor the caller got from `head()`), and says whether anything in that range
  was already evicted (`complete=False`), including when `since` is not a cursor of this log;
- an id seen within the idempotency window is not appended again: the same target and
  content answer the first cursor (`duplicate`), anything else is refused (`conflict`);
- a log that cannot reach its store raises `BackendUnavailable` and says `healthy=False`.

Every log shares one cursor shape (`cursor_shaped`), so a cursor from another store is
answered `complete: false` rather than refused as malformed.
"""

from __future__ import annotations

import abc
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

from gateway.metrics import BackendStats
from gateway.models import EveryoneTarget, Target, TopicTarget

__all__ = [
    "AppendResult",
    "BackendUnavailable",
    "Draft",
    "Entry",
    "Follower",
    "NotificationLog",
    "Peers",
    "Replay",
    "cursor_shaped",
    "encode_target",
    "fingerprint",
]

_CURSOR = re.compile(r"[0-9a-z.]{1,40}-[0-9]{1,19}")
_CREATED_AT = b',"created_at":'


def cursor_shaped(text: str) -> bool:
    """Whether `text` has the shape every log's cursors share: `<store part>-<digits>`."""
    return _CURSOR.fullmatch(text) is not None


def encode_target(target: Target) -> bytes:
    """A compact form of `target`: `e`, `t<topic>` or `u<id>,<id>` (ids hold no commas)."""
    if isinstance(target, EveryoneTarget):
        return b"e"
    if isinstance(target, TopicTarget):
        return b"t" + target.topic.encode()
    return b"u" + ",".join(target.user_ids).encode()


def fingerprint(target: Target, body: bytes) -> bytes:
    """What makes a repeated id the same publish: its target and its content.

    `created_at` is left out (`encode_notification` puts it last): a retry that let the
    gateway fill it in again is still the same notification.
    """
    cut = body.rfind(_CREATED_AT)
    content = body if cut < 0 else body[:cut]
    return hashlib.blake2b(encode_target(target) + b"\x00" + content, digest_size=12).digest()


class BackendUnavailable(RuntimeError):
    """The log's shared store cannot be reached now; the call did not take effect."""


class Entry(NamedTuple):
    """One accepted notification. A tuple: made once per publish, on the hot path."""

    cursor: str
    target: Target
    notification_id: str
    #: The notification's JSON object, encoded once at publish.
    body: bytes
    #: Wall-clock seconds after which it is no longer replayed (from its ttl), or None.
    replay_until: float | None
    #: Receipts (issue 17): wall-clock seconds by which an addressed user must ack, or None.
    receipt_until: float | None = None


class Draft(NamedTuple):
    """What `append` needs of a notification that has no cursor yet."""

    target: Target
    notification_id: str
    body: bytes
    ttl: timedelta | None
    #: Receipts (issue 17): wall-clock seconds by which an addressed user must ack, or None.
    receipt_until: float | None = None


class AppendResult(NamedTuple):
    cursor: str
    #: Local connections it was handed to; 0 for a duplicate.
    delivered: int
    #: The id was already in the log: nothing was appended, `cursor` is the first one.
    duplicate: bool = False
    #: The id was already used for another target or content: refused, nothing appended.
    conflict: bool = False


@dataclass(frozen=True, slots=True)
class Replay:
    entries: list[Entry]
    #: False when entries after `since` were evicted (or `since` is unknown here).
    complete: bool


Follower = Callable[[Entry], int]
#: Answers one control question from another replica (op name, arguments → reply).
Answerer = Callable[[str, dict[str, Any]], dict[str, Any]]


class Peers(abc.ABC):
    """The other replicas sharing this log: ask them all one question, gather the answers.

    Used for presence and Disconnect; a missing answer (a replica that just died) costs
    a bounded wait, never a hang.
    """

    def __init__(self) -> None:
        self.answerer: Answerer = lambda op, args: {}

    @abc.abstractmethod
    async def ask(self, op: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        """The replies of every other live replica to `op` (BackendUnavailable if none can)."""


class NotificationLog(abc.ABC):
    """Ordered, bounded notification history that also fans new entries out to a follower."""

    def __init__(self) -> None:
        self._follower: Follower = lambda entry: 0
        #: Figures about the shared store (round trips, errors, lag); zero for memory.
        self.stats = BackendStats()
        #: The other replicas, when the log is shared; None when this process is alone.
        self.peers: Peers | None = None
        #: Called when entries this replica had not delivered are gone from the log.
        self.on_gap: Callable[[], None] = lambda: None

    @property
    def healthy(self) -> bool:
        """Whether the store answers now (readiness); the memory log always does."""
        return True

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

        A draft whose id was seen within the idempotency window (or earlier in `drafts`) is
        not appended: with the same `fingerprint` its result carries the first cursor and
        `duplicate=True`, otherwise `conflict=True`. One call per batch lets an
        implementation pay its fixed costs (a clock read, a round trip) once.
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
