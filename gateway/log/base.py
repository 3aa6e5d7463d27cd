"""The log interface: append → cursor; read since a cursor; hand new entries to a listener.

Contract every implementation keeps:
- cursors (`Cursor`, printed once per entry) increase in append order, unique within the log;
- `append` takes a batch: many notifications for one round of fixed costs;
- the `LogListener` given to `start` is the one collaborator: `deliver` is called once per
  entry the replica may need, in cursor order, on the event loop, and returns how many
  local connections the entry was handed to; `gap` when entries owed were lost; `answer`
  for another replica's question;
- a log that shards (`shard_count > 1`) is used through `shard(user_id)` for everything
  a connection does (watch, head, read_since); it hands a topic or `everyone` entry,
  which every shard carries, to `deliver_shard` with the shard it came from;
- `watch(addresses)` takes the addresses at once and returns an awaitable that completes
  once every entry appended afterwards to one of them will be delivered, and `head()` has
  passed every entry appended before (a log that delivers everything needs nothing); it
  runs whether or not it is awaited;
  `unwatch` releases them: each `watch` call, whether its awaitable succeeded or not, is
  matched by one `unwatch` call (a log may keep them subscribed a while);
- `read_since(since, until)` returns the retained entries after `since` up to and including
  `until` (a cursor the caller got from `head()`), and says whether anything in that range
  was already evicted (`complete=False`), including when `since` is not a cursor of this log;
- an id seen within the idempotency window is not appended again: the same target and
  content answer the first cursor (`duplicate`), anything else is refused (`conflict`);
- a log that cannot reach its store raises `BackendUnavailable` and says `healthy=False`.

Every log shares one cursor shape (`Cursor.parse`), so a cursor from another store is
answered `complete: false` rather than refused as malformed.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Awaitable, Callable, Collection, Generator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple, Protocol

from gateway.log.address import Address
from gateway.log.cursor import Cursor
from gateway.metrics import BackendStats
from gateway.models import EveryoneTarget, Target, TopicTarget, UsersTarget
from gateway.speedups import speedups

__all__ = [
    "NO_LISTENER",
    "READY",
    "AppendResult",
    "BackendUnavailable",
    "Draft",
    "Entry",
    "GapScope",
    "LogListener",
    "NotificationLog",
    "Peers",
    "Replay",
    "encode_target",
    "fingerprint",
    "local_fingerprint",
    "local_fingerprint_py",
]

_CREATED_AT = b',"created_at":'


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


def local_fingerprint_py(target: Target, body: bytes) -> int:
    """`fingerprint` for a log whose ids never leave this process (the memory log).

    Python's keyed hash of the same target and content, ~5x cheaper than blake2b through
    hashlib. Keyed per process (PYTHONHASHSEED aside), so a publisher cannot aim for a
    collision, and 64 bits make a chance one (a changed retry taken for a duplicate) one
    in 2**64. A shared log needs `fingerprint`: its replicas must agree.
    """
    cut = body.rfind(_CREATED_AT)
    content = body if cut < 0 else body[:cut]
    if isinstance(target, UsersTarget):  # a cached target's tuple keeps its strings' hashes
        return hash((target.user_ids, content))
    if isinstance(target, TopicTarget):
        return hash((target.topic, None, content))
    return hash(content)


def _compiled_fingerprint() -> Callable[[Target, bytes], int] | None:
    # gateway/csrc/fingerprint.c: the same value, without the Python steps (~4.9k to ~1k)
    if speedups is None:
        return None
    speedups.configure_fingerprint(local_fingerprint_py, UsersTarget, TopicTarget, _CREATED_AT)
    compiled: Callable[[Target, bytes], int] = speedups.local_fingerprint
    return compiled


local_fingerprint = _compiled_fingerprint() or local_fingerprint_py


class BackendUnavailable(RuntimeError):
    """The log's shared store cannot be reached now; the call did not take effect."""


class Entry(NamedTuple):
    """One accepted notification. A tuple: made once per publish, on the hot path.

    Read its fields by name: more are added (with defaults) by the features that need them.
    """

    #: The entry's `Cursor`, printed (it only ever goes into frames as it is).
    cursor: str
    target: Target
    notification_id: str
    #: The notification's JSON object, encoded once at publish.
    body: bytes
    #: Wall-clock seconds after which it is no longer replayed (from its ttl), or None.
    replay_until: float | None
    #: Receipts (issue 17): wall-clock seconds by which an addressed user must ack, or None.
    receipt_until: float | None = None
    #: The W3C traceparent of the publish that made it, when that publish was traced and
    #: sampled (`gateway.tracing`): whichever replica hands it out links to the publish.
    trace: str | None = None


class Draft(NamedTuple):
    """What `append` needs of a notification that has no cursor yet (read it by name)."""

    target: Target
    notification_id: str
    body: bytes
    ttl: timedelta | None
    #: Receipts (issue 17): wall-clock seconds by which an addressed user must ack, or None.
    receipt_until: float | None = None
    #: The publish's W3C traceparent (see `Entry.trace`); None when it was not traced.
    trace: str | None = None


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
    #: receipts (issue 17): entries in the range left out because their ttl had passed
    #: (never replayed, so never acked by the resuming client).
    expired: list[Entry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GapScope:
    """Which connections were owed entries that are gone: they are closed with 4010 and
    resume with `since` (learning `complete: false`)."""

    #: Why, for the log line.
    reason: str
    #: The addresses whose entries may be missing; None: every connection on this replica.
    addresses: frozenset[Address] | None = None
    #: Which users' connections are owed them (a sharded log: the lost shard's users);
    #: None: every user's.
    users: Callable[[str], bool] | None = None


class LogListener(Protocol):
    """What a log hands its entries to: the replica's service (see the module contract)."""

    def deliver(self, entry: Entry) -> int:
        """Hand `entry` to the local connections it addresses; how many (in cursor order)."""
        ...

    def deliver_shard(self, entry: Entry, shard: int) -> int:
        """A topic or `everyone` entry of one shard of a sharded log: hand it only to the
        local connections whose user lives on `shard` (every shard carries its own copy,
        with its own cursor)."""
        ...

    def gap(self, scope: GapScope) -> None:
        """Entries this replica owed its connections were lost: close those (4010)."""
        ...

    def answer(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """This replica's part of another replica's question (presence, Disconnect)."""
        ...


class _NoListener:
    """Before `start`: nothing is connected, so nothing is delivered or closed."""

    def deliver(self, entry: Entry) -> int:
        return 0

    def deliver_shard(self, entry: Entry, shard: int) -> int:
        return 0

    def gap(self, scope: GapScope) -> None:
        pass

    def answer(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        return {}


NO_LISTENER: LogListener = _NoListener()


class _Ready:
    """An awaitable that is already complete (awaiting it never suspends)."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that ends at once


#: What `watch` returns when there is nothing to wait for.
READY: Awaitable[None] = _Ready()


class Peers(abc.ABC):
    """The other replicas sharing this log: ask them all one question, gather the answers.

    Used for presence and Disconnect; a missing answer (a replica that just died) costs
    a bounded wait, never a hang. The replica's own answers come from its `LogListener`.
    """

    @abc.abstractmethod
    async def ask(self, op: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        """The replies of every other live replica to `op` (BackendUnavailable if none can)."""


class NotificationLog(abc.ABC):
    """Ordered, bounded notification history that also hands new entries to a listener."""

    #: How many shards the log spans: 1 unless it shards (`gateway.log.shards`).
    shard_count: int = 1
    #: Whether `append` hands its new entries to the listener before it returns, with no
    #: await between (the memory log): the service then knows which fan-outs a publish
    #: makes (`FlushScheduler.write_through`).
    delivers_on_append: bool = False

    def __init__(self) -> None:
        self._listener: LogListener = NO_LISTENER
        #: Figures about the shared store (round trips, errors, lag); zero for memory.
        self.stats = BackendStats()
        #: The other replicas, when the log is shared; None when this process is alone.
        self.peers: Peers | None = None

    @property
    def healthy(self) -> bool:
        """Whether the store answers now (readiness); the memory log always does."""
        return True

    def shard_index(self, user_id: str) -> int:
        """Which shard holds `user_id`'s history (0 unless the log shards)."""
        return 0

    def shard(self, user_id: str) -> NotificationLog:
        """The log a connection of `user_id` watches, reads its head from and replays
        from: this one, unless the log shards (then the user's shard)."""
        return self

    async def start(self, listener: LogListener) -> None:
        """Hand new entries (and gaps, and peers' questions) to `listener` from now on;
        a shared log connects and starts following. Called once."""
        self._listener = listener

    def watch(self, addresses: Collection[Address]) -> Awaitable[None]:
        """Hold `addresses` from now on; the awaitable completes once entries appended to
        them come live and `head()` is past every earlier one (see the module contract).

        The memory log delivers every entry: `READY`, which completes without suspending.
        """
        return READY

    def unwatch(self, addresses: Collection[Address]) -> None:  # noqa: B027 - optional
        """Release one `watch` of `addresses` (lazily: a log may keep them a while)."""

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
    def head(self) -> Cursor:
        """The position up to which entries are handed to the listener: a connection added
        to the hub now gets every later entry live (a start position if there is none)."""

    @abc.abstractmethod
    async def read_since(self, since: Cursor, until: Cursor) -> Replay:
        """Retained entries in (since, until], oldest first; see the module contract."""
