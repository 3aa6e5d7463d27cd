"""The hub's routing, with plain in-memory connections."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.connection.outgoing import Outgoing
from gateway.hub import Hub, addresses
from gateway.models import EveryoneTarget, TopicTarget, UsersTarget
from tests.support.fakes import item


@dataclass(eq=False)
class Conn:
    user_id: str
    topics: frozenset[str] = frozenset()
    frames: list[bytes] = field(default_factory=list)
    #: Not a WebSocket outbox: the fan-out (`send_each`) asks it through `send`.
    _ws: bool = False

    def __post_init__(self) -> None:
        self.topics = frozenset(self.topics)  # tests may pass a set literal

    def send(self, sent: Outgoing) -> None:
        self.frames.append(sent.ws)


def test_routes_users_topics_and_everyone() -> None:
    hub = Hub()
    a1, a2, b, c = Conn("a", {"news"}), Conn("a"), Conn("b", {"news", "x"}), Conn("c")
    for conn in (a1, a2, b, c):
        hub.add(conn)
    assert hub.deliver(UsersTarget(user_ids=("a", "zz")), item(b"1")) == 2
    assert hub.deliver(TopicTarget(topic="news"), item(b"2")) == 2
    assert hub.deliver(EveryoneTarget(), item(b"3")) == 4
    assert hub.deliver(TopicTarget(topic="none"), item(b"4")) == 0
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
    assert hub.deliver(TopicTarget(topic="t"), item(b"x")) == 0
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


def test_a_repeated_user_id_is_delivered_once() -> None:
    hub = Hub()
    a = Conn("a")
    hub.add(a)
    assert hub.deliver(UsersTarget(user_ids=("a", "a", "b", "a")), item(b"x")) == 1
    assert a.frames == [b"x"]


def test_subscriptions_replace_the_topics_rather_than_mutate_them() -> None:
    hub = Hub()
    a = Conn("a")
    hub.add(a)
    idle = a.topics
    hub.subscribe(a, "t")
    hub.subscribe(a, "u")
    assert a.topics == {"t", "u"} and isinstance(a.topics, frozenset)
    assert idle == frozenset()  # a shared empty set is never changed
    hub.unsubscribe(a, "t")
    hub.unsubscribe(a, "u")
    assert a.topics == frozenset()
    assert hub.deliver(TopicTarget(topic="t"), item(b"x")) == 0


def test_a_user_with_one_then_several_then_no_connections() -> None:
    hub = Hub()
    a1, a2, a3 = Conn("a", {"t"}), Conn("a"), Conn("a", {"t"})
    hub.add(a1)
    hub.add(a1)  # twice is harmless
    assert hub.connections_of("a") == [a1]
    assert hub.deliver(UsersTarget(user_ids=("a",)), item(b"1")) == 1
    hub.add(a2)
    hub.add(a3)
    assert hub.connections_of("a") == [a1, a2, a3]
    assert hub.user_count("a") == 3 and hub.user_count("a", "t") == 2
    assert hub.deliver(UsersTarget(user_ids=("a", "b")), item(b"2")) == 3
    hub.remove(a1)
    hub.remove(a3)
    assert hub.connections_of("a") == [a2]
    assert hub.deliver(UsersTarget(user_ids=("a",)), item(b"3")) == 1
    hub.remove(a2)
    assert hub.connections_of("a") == [] and hub.user_count("a") == 0
    assert hub.deliver(UsersTarget(user_ids=("a",)), item(b"4")) == 0
    assert (a1.frames, a2.frames, a3.frames) == ([b"1", b"2"], [b"2", b"3"], [b"2"])
    assert hub._by_user == {} and hub._by_topic == {}


def test_a_sharded_hub_hands_each_shards_copy_to_that_shards_users_only() -> None:
    """Over a sharded log every shard carries its own copy of a topic or everyone entry:
    each copy reaches only the connections whose user lives on its shard, so a replica
    holding users of both shards delivers each notification once per connection."""
    shard_of = {"a": 0, "b": 1, "c": 1}.__getitem__
    hub = Hub(shard_of)
    a, b, c = Conn("a", {"news"}), Conn("b", {"news"}), Conn("c")
    for conn in (a, b, c):
        hub.add(conn)
    for shard in (0, 1):
        hub.deliver_shard(shard, TopicTarget(topic="news"), item(b"t%d" % shard))
        hub.deliver_shard(shard, EveryoneTarget(), item(b"e%d" % shard))
    assert hub.deliver_shard(1, UsersTarget(user_ids=("b",)), item(b"u")) == 1
    assert a.frames == [b"t0", b"e0"]
    assert b.frames == [b"t1", b"e1", b"u"]
    assert c.frames == [b"e1"]
    hub.subscribe(c, "news")
    hub.unsubscribe(b, "news")
    assert hub.deliver_shard(1, TopicTarget(topic="news"), item(b"n")) == 1
    assert c.frames[-1] == b"n"
    hub.remove(b)
    hub.remove(c)
    assert hub.deliver_shard(1, EveryoneTarget(), item(b"x")) == 0
    assert hub.deliver_shard(2, EveryoneTarget(), item(b"x")) == 0
