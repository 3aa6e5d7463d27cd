"""The registry of live connections on this replica, indexed by user and by topic.

`deliver()` hands one pre-encoded frame to every connection a target addresses; each
connection queues it without awaiting (see session.py), so a fan-out to thousands of
sockets is one tight loop. Knows no gRPC, no aiohttp, no Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from gateway.models import EveryoneTarget, Target, TopicTarget, UsersTarget

__all__ = ["Connection", "Hub", "addresses"]


class Connection(Protocol):
    """What the hub needs of a connection: who it is, what it follows, where frames go."""

    @property
    def user_id(self) -> str: ...
    @property
    def topics(self) -> set[str]: ...
    def send(self, frame: bytes) -> None: ...


_NONE: dict[Connection, None] = {}


def addresses(target: Target, user_id: str, topics: set[str]) -> bool:
    """Whether `target` reaches a connection of `user_id` following `topics` (for replay)."""
    if isinstance(target, EveryoneTarget):
        return True
    if isinstance(target, TopicTarget):
        return target.topic in topics
    return user_id in target.user_ids


class Hub:
    __slots__ = ("_all", "_by_topic", "_by_user")

    def __init__(self) -> None:
        # dicts (insertion-ordered, O(1) delete) rather than sets: fan-out order is then
        # connection order, which keeps delivery deterministic for tests and debugging.
        self._all: dict[Connection, None] = {}
        self._by_user: dict[str, dict[Connection, None]] = {}
        self._by_topic: dict[str, dict[Connection, None]] = {}

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._all))

    def add(self, conn: Connection) -> None:
        self._all[conn] = None
        self._by_user.setdefault(conn.user_id, {})[conn] = None
        for topic in conn.topics:
            self._by_topic.setdefault(topic, {})[conn] = None

    def remove(self, conn: Connection) -> None:
        if conn not in self._all:
            return
        del self._all[conn]
        self._discard(self._by_user, conn.user_id, conn)
        for topic in conn.topics:
            self._discard(self._by_topic, topic, conn)

    def subscribe(self, conn: Connection, topic: str) -> None:
        """Add `topic` to a registered connection (the caller bounds how many it may have)."""
        if topic not in conn.topics:
            conn.topics.add(topic)
            if conn in self._all:
                self._by_topic.setdefault(topic, {})[conn] = None

    def unsubscribe(self, conn: Connection, topic: str) -> None:
        if topic in conn.topics:
            conn.topics.discard(topic)
            self._discard(self._by_topic, topic, conn)

    def deliver(self, target: Target, frame: bytes) -> int:
        """Queue `frame` on every connection `target` addresses; returns how many."""
        if isinstance(target, EveryoneTarget):
            conns = self._all
        elif isinstance(target, TopicTarget):
            conns = self._by_topic.get(target.topic, _NONE)
        else:
            return self._deliver_users(target, frame)
        for conn in conns:
            conn.send(frame)
        return len(conns)

    def _deliver_users(self, target: UsersTarget, frame: bytes) -> int:
        count = 0
        by_user = self._by_user
        for user_id in target.user_ids:
            conns = by_user.get(user_id)
            if conns:
                for conn in conns:
                    conn.send(frame)
                count += len(conns)
        return count

    def connections_of(self, user_id: str) -> list[Connection]:
        return list(self._by_user.get(user_id, ()))

    def user_count(self, user_id: str, topic: str | None = None) -> int:
        conns = self._by_user.get(user_id, ())
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
