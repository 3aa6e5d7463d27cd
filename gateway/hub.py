"""The registry of live connections on this replica, indexed by user and by topic.

`deliver()` hands one `Outgoing` item to every connection a target addresses
(`send_each`: `conn.send(item)` for each, a live WebSocket's inline); each
connection queues it without awaiting (see connection/outbox.py), so a fan-out to
thousands of sockets is one tight loop of appends. Knows no gRPC, no aiohttp, no Redis.

Over a sharded log (`gateway.log.shards`) a topic or `everyone` entry comes once per shard,
each copy for the connections whose user lives on that shard: a hub made with `shard_of`
also indexes connections per shard, at connect time, so `deliver_shard` is the same tight
loop over that shard's connections (and a hub without it pays one check per connect).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from collections.abc import Set as AbstractSet

from gateway.connection.connection import Connection
from gateway.connection.outbox import send_each
from gateway.connection.outgoing import Outgoing
from gateway.connection.through import write_each
from gateway.models import EveryoneTarget, Target, TopicTarget, UsersTarget

__all__ = ["Hub", "addresses"]


_NONE: dict[Connection, None] = {}
_NO_TOPICS: frozenset[str] = frozenset()


def addresses(target: Target, user_id: str, topics: AbstractSet[str]) -> bool:
    """Whether `target` reaches a connection of `user_id` following `topics` (for replay)."""
    if isinstance(target, EveryoneTarget):
        return True
    if isinstance(target, TopicTarget):
        return target.topic in topics
    return user_id in target.user_ids


class _Shard:
    """One shard's connections: all of them, and by topic."""

    __slots__ = ("all", "by_topic")

    def __init__(self) -> None:
        self.all: dict[Connection, None] = {}
        self.by_topic: dict[str, dict[Connection, None]] = {}


class Hub:
    __slots__ = ("_all", "_by_topic", "_by_user", "_shard_of", "_shards")

    def __init__(self, shard_of: Callable[[str], int] | None = None) -> None:
        """`shard_of`: a sharded log's user -> shard (see the module); None: one shard."""
        # dicts (insertion-ordered, O(1) delete) rather than sets: fan-out order is then
        # connection order, which keeps delivery deterministic for tests and debugging.
        self._all: dict[Connection, None] = {}
        #: A user's one connection itself, or a dict once it has several: most users have
        #: one, and a dict each would cost 232 bytes per idle connection.
        self._by_user: dict[str, Connection | dict[Connection, None]] = {}
        self._by_topic: dict[str, dict[Connection, None]] = {}
        self._shard_of = shard_of
        self._shards: dict[int, _Shard] = {}

    def __len__(self) -> int:
        return len(self._all)

    def __contains__(self, conn: object) -> bool:
        return conn in self._all

    def __iter__(self) -> Iterator[Connection]:
        return iter(self._all)

    def add(self, conn: Connection) -> None:
        """Index `conn` by user and topics. `conn.topics` is a frozenset that only the hub
        replaces (`subscribe`, `unsubscribe`), so idle connections share one empty one."""
        self._all[conn] = None
        by_user = self._by_user
        present = by_user.setdefault(conn.user_id, conn)
        if isinstance(present, dict):
            present[conn] = None
        elif present is not conn:
            by_user[conn.user_id] = {present: None, conn: None}
        for topic in conn.topics:
            self._by_topic.setdefault(topic, {})[conn] = None
        if self._shard_of is not None:
            shard = self._shards.get(self._shard_of(conn.user_id))
            if shard is None:
                shard = self._shards[self._shard_of(conn.user_id)] = _Shard()
            shard.all[conn] = None
            for topic in conn.topics:
                shard.by_topic.setdefault(topic, {})[conn] = None

    def remove(self, conn: Connection) -> None:
        if conn not in self._all:
            return
        del self._all[conn]
        by_user = self._by_user
        present = by_user.get(conn.user_id)
        if present is conn:
            del by_user[conn.user_id]
        elif isinstance(present, dict):
            present.pop(conn, None)
            if not present:
                del by_user[conn.user_id]
        for topic in conn.topics:
            self._discard(self._by_topic, topic, conn)
        if self._shard_of is not None:
            shard = self._shards[self._shard_of(conn.user_id)]
            del shard.all[conn]
            for topic in conn.topics:
                self._discard(shard.by_topic, topic, conn)

    def subscribe(self, conn: Connection, topic: str) -> None:
        """Add `topic` to a connection (the caller bounds how many it may have).

        Replaces `conn.topics` with a new frozenset: O(topics), and subscribing is rare.
        """
        if topic not in conn.topics:
            conn.topics = conn.topics | {topic}
            if conn in self._all:
                self._by_topic.setdefault(topic, {})[conn] = None
                if self._shard_of is not None:
                    by_topic = self._shards[self._shard_of(conn.user_id)].by_topic
                    by_topic.setdefault(topic, {})[conn] = None

    def unsubscribe(self, conn: Connection, topic: str) -> None:
        if topic in conn.topics:
            conn.topics = conn.topics - {topic} or _NO_TOPICS
            self._discard(self._by_topic, topic, conn)
            if self._shard_of is not None and conn in self._all:
                self._discard(self._shards[self._shard_of(conn.user_id)].by_topic, topic, conn)

    def users_index(self) -> Mapping[str, Connection | dict[Connection, None]]:
        """Each user's connection, or its connections (a dict) when it has several: the
        service's per-user `deliver` reads it inline (the same object for the hub's life)."""
        return self._by_user

    def deliver(self, target: Target, item: Outgoing) -> int:
        """Queue `item` on every connection `target` addresses; returns how many."""
        if isinstance(target, UsersTarget):  # first: per-user traffic is the most items
            user_ids = target.user_ids
            if len(user_ids) == 1:  # one user with one connection: no further call
                conn = self._by_user.get(user_ids[0])
                if conn is None:
                    return 0
                if not isinstance(conn, dict):
                    conn.send(item)
                    return 1
            return self._deliver_users(target, item)
        conns = self._followers(target)
        send_each(conns, item)
        return len(conns)

    def write_through(self, target: Target, item: Outgoing) -> int | None:
        """`deliver` for a topic or everyone target, written as it goes (`write_each`);
        None for a users target (deliver it: its recipients are few)."""
        if isinstance(target, UsersTarget):
            return None
        conns = self._followers(target)
        write_each(conns, item)
        return len(conns)

    def _followers(self, target: TopicTarget | EveryoneTarget) -> Collection[Connection]:
        """The connections an everyone or a topic target addresses."""
        if isinstance(target, EveryoneTarget):
            return self._all
        return self._by_topic.get(target.topic, _NONE)

    def deliver_shard(self, shard: int, target: Target, item: Outgoing) -> int:
        """`deliver`, to the connections whose user lives on `shard` only (a hub made with
        `shard_of`; see the module). A users target is already one shard's users."""
        if isinstance(target, UsersTarget):
            return self._deliver_users(target, item)
        index = self._shards.get(shard)
        if index is None:
            return 0
        if isinstance(target, EveryoneTarget):
            conns = index.all
        else:
            conns = index.by_topic.get(target.topic, _NONE)
        send_each(conns, item)
        return len(conns)

    def _deliver_users(self, target: UsersTarget, item: Outgoing) -> int:
        count = 0
        by_user = self._by_user
        user_ids = target.user_ids
        for user_id in dict.fromkeys(user_ids) if len(user_ids) > 1 else user_ids:
            conns = by_user.get(user_id)
            if conns is None:
                continue
            if isinstance(conns, dict):
                send_each(conns, item)
                count += len(conns)
            else:
                conns.send(item)
                count += 1
        return count

    def _of_user(self, user_id: str) -> Collection[Connection]:
        conns = self._by_user.get(user_id)
        if conns is None:
            return ()
        return conns if isinstance(conns, dict) else (conns,)

    def connections(self) -> list[Connection]:
        return list(self._all)

    def connections_of(self, user_id: str) -> list[Connection]:
        return list(self._of_user(user_id))

    def user_count(self, user_id: str, topic: str | None = None) -> int:
        conns = self._of_user(user_id)
        if topic is None:
            return len(conns)
        return sum(1 for conn in conns if topic in conn.topics)

    def topic_users(self, topic: str) -> dict[str, int]:
        """Users following `topic`, with how many of their connections follow it."""
        counts: dict[str, int] = {}
        for conn in self._by_topic.get(topic, ()):
            counts[conn.user_id] = counts.get(conn.user_id, 0) + 1
        return counts

    @staticmethod
    def _discard(index: dict[str, dict[Connection, None]], key: str, conn: Connection) -> None:
        conns = index.get(key)
        if conns is not None:
            conns.pop(conn, None)
            if not conns:
                del index[key]
