"""The hub's routing, with plain in-memory connections."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.hub import Hub, addresses
from gateway.models import EveryoneTarget, TopicTarget, UsersTarget


@dataclass(eq=False)
class Conn:
    user_id: str
    topics: set[str] = field(default_factory=set)
    frames: list[bytes] = field(default_factory=list)

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)


def test_routes_users_topics_and_everyone() -> None:
    hub = Hub()
    a1, a2, b, c = Conn("a", {"news"}), Conn("a"), Conn("b", {"news", "x"}), Conn("c")
    for conn in (a1, a2, b, c):
        hub.add(conn)
    assert hub.deliver(UsersTarget(user_ids=("a", "zz")), b"1") == 2
    assert hub.deliver(TopicTarget(topic="news"), b"2") == 2
    assert hub.deliver(EveryoneTarget(), b"3") == 4
    assert hub.deliver(TopicTarget(topic="none"), b"4") == 0
    assert a1.frames == [b"1", b"2", b"3"]
    assert a2.frames == [b"1", b"3"]
    assert b.frames == [b"2", b"3"]
    assert c.frames == [b"3"]


def test_remove_and_subscriptions_keep_indexes_clean() -> None:
    hub = Hub()
    a = Conn("a", {"t"})
    hub.add(a)
    hub.subscribe(a, "u")
    assert hub.topic_users("u") == {"a": 1}
    hub.unsubscribe(a, "t")
    assert hub.deliver(TopicTarget(topic="t"), b"x") == 0
    hub.remove(a)
    hub.remove(a)  # twice is harmless
    assert len(hub) == 0
    assert hub.user_count("a") == 0
    assert hub.topic_users("u") == {}
    assert hub._by_user == {} and hub._by_topic == {}


def test_presence_counts() -> None:
    hub = Hub()
    for conn in (Conn("a", {"t"}), Conn("a"), Conn("b", {"t"})):
        hub.add(conn)
    assert hub.user_count("a") == 2
    assert hub.user_count("a", "t") == 1
    assert hub.topic_users("t") == {"a": 1, "b": 1}


def test_addresses_matches_replay_to_deliver() -> None:
    assert addresses(EveryoneTarget(), "a", set())
    assert addresses(TopicTarget(topic="t"), "a", {"t"})
    assert not addresses(TopicTarget(topic="t"), "a", set())
    assert addresses(UsersTarget(user_ids=("a",)), "a", set())
    assert not addresses(UsersTarget(user_ids=("b",)), "a", set())
