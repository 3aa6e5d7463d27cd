"""The receipt store contract (gateway/receipts/store.py), on both stores: memory, and
Redis on a redis-server of the test's own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.log.cursor import Cursor
from gateway.models import EveryoneTarget, TopicTarget, UsersTarget
from gateway.receipts.memory import MemoryReceiptStore
from gateway.receipts.model import State, Tracked
from gateway.receipts.redis import RedisReceiptStore
from gateway.receipts.store import ReadOutcome, ReceiptStore
from tests.support.redis_helpers import RedisServer

MakeStore = Callable[..., ReceiptStore]
NOW = time.time()


def cursor(n: int) -> str:
    return f"e1-{n}"


def at(n: int) -> Cursor:
    found = Cursor.parse(cursor(n))
    assert found is not None
    return found


def to_users(nid: str, n: int, *users: str, deadline: float | None = None) -> Tracked:
    return Tracked(nid, "order.shipped", cursor(n), UsersTarget(user_ids=users), NOW, deadline)


def to_topic(nid: str, n: int, topic: str | None) -> Tracked:
    target = EveryoneTarget() if topic is None else TopicTarget(topic=topic)
    return Tracked(nid, "news.posted", cursor(n), target, NOW, None)


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: Any, tmp_path: Path) -> AsyncIterator[MakeStore]:
    stores: list[ReceiptStore] = []
    server: RedisServer | None = None
    if request.param == "redis":
        server = RedisServer(tmp_path)
        server.start()

    def make(**bounds: Any) -> ReceiptStore:
        store: ReceiptStore
        if server is None:
            store = MemoryReceiptStore(**bounds)
        else:
            store = RedisReceiptStore(server.url, prefix="t", **bounds)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()
    if server is not None:
        server.stop()


async def states(store: ReceiptStore, nid: str) -> dict[str, State]:
    (receipt,) = await store.get([nid])
    return {user.user_id: user.state for user in receipt.users}


async def test_an_ack_delivers_to_its_user_once(make_store: MakeStore) -> None:
    store = make_store()
    await store.track([to_users("n1", 1, "alice", "bob")])
    assert await states(store, "n1") == {"alice": State.PENDING, "bob": State.PENDING}
    assert await store.ack("alice", frozenset(), at(0), at(1), NOW + 2) == [pytest.approx(NOW)]
    assert await store.ack("alice", frozenset(), at(0), at(1), NOW + 3) == []
    (receipt,) = await store.get(["n1"])
    alice = next(u for u in receipt.users if u.user_id == "alice")
    assert alice.state is State.DELIVERED
    assert alice.delivered_at == pytest.approx(NOW + 2)
    assert receipt.state is State.PENDING  # bob has not acked
    assert receipt.type == "order.shipped"
    assert receipt.cursor == cursor(1)


async def test_an_ack_covers_only_its_range_and_its_user(make_store: MakeStore) -> None:
    store = make_store()
    await store.track([to_users(f"n{i}", i, "alice") for i in (1, 2, 3)])
    await store.ack("bob", frozenset(), at(0), at(3), NOW)  # not bob's: nothing
    await store.ack("alice", frozenset(), at(1), at(2), NOW)  # after 1, up to 2
    assert await states(store, "n1") == {"alice": State.PENDING}
    assert await states(store, "n2") == {"alice": State.DELIVERED}
    assert await states(store, "n3") == {"alice": State.PENDING}


async def test_a_passed_deadline_is_undelivered_once_and_a_late_ack_still_counts(
    make_store: MakeStore,
) -> None:
    store = make_store()
    await store.track(
        [to_users("n1", 1, "alice", "bob", deadline=NOW + 10), to_users("n2", 2, "alice")]
    )
    await store.ack("bob", frozenset(), at(0), at(1), NOW + 1)
    assert await store.expire(NOW + 5) == 0
    assert await store.expire(NOW + 11) == 1  # alice; bob had acked; n2 has no deadline
    assert await store.expire(NOW + 12) == 0
    assert await states(store, "n1") == {"alice": State.UNDELIVERED, "bob": State.DELIVERED}
    (receipt,) = await store.get(["n1"])
    assert receipt.state is State.UNDELIVERED
    assert receipt.deadline == pytest.approx(NOW + 10)
    await store.ack("alice", frozenset(), at(0), at(1), NOW + 20)
    (receipt,) = await store.get(["n1"])
    alice = next(u for u in receipt.users if u.user_id == "alice")
    assert (alice.state, alice.undelivered_at) == (State.DELIVERED, pytest.approx(NOW + 11))


async def test_read_implies_delivered_and_only_for_the_addressed(make_store: MakeStore) -> None:
    store = make_store()
    await store.track([to_users("n1", 1, "alice")])
    assert await store.read("carol", frozenset(), "n1", NOW) is ReadOutcome.REFUSED
    assert await store.read("alice", frozenset(), "nope", NOW) is ReadOutcome.REFUSED
    assert await store.read("alice", frozenset(), "n1", NOW + 1) is not ReadOutcome.REFUSED
    (receipt,) = await store.get(["n1"])
    (alice,) = receipt.users
    assert (alice.state, alice.delivered_at, alice.read_at) == (
        State.READ,
        pytest.approx(NOW + 1),
        pytest.approx(NOW + 1),
    )
    # a later ack does not turn it back
    await store.ack("alice", frozenset(), at(0), at(1), NOW + 2)
    assert await states(store, "n1") == {"alice": State.READ}


async def test_broadcasts_count_distinct_addressed_users_up_to_the_bound(
    make_store: MakeStore,
) -> None:
    store = make_store(max_counted_users=2)
    await store.track([to_topic("t1", 1, "news"), to_topic("e1", 2, None)])
    news = frozenset({"news"})
    await store.ack("alice", news, at(0), at(2), NOW)
    await store.ack("alice", news, at(0), at(2), NOW)  # a second tab: still one user
    await store.ack("bob", frozenset(), at(0), at(2), NOW)  # not following news
    topic, everyone = await store.get(["t1", "e1"])
    assert topic.audience is not None and everyone.audience is not None
    assert (topic.audience.delivered, topic.state) == (1, State.DELIVERED)
    assert everyone.audience.delivered == 2
    await store.ack("carol", news, at(0), at(2), NOW)
    await store.read("dave", news, "t1", NOW)
    assert await store.read("erin", frozenset(), "t1", NOW) is ReadOutcome.REFUSED
    topic, everyone = await store.get(["t1", "e1"])
    assert topic.audience is not None and everyone.audience is not None
    # dave's read is counted; as a delivery it would be the third: "at least" from here
    assert (topic.audience.delivered, topic.audience.read, topic.audience.capped) == (2, 1, True)
    assert (everyone.audience.delivered, everyone.audience.capped) == (2, True)


async def test_past_the_count_bound_the_oldest_is_unknown(make_store: MakeStore) -> None:
    store = make_store(max_tracked=2)
    await store.track([to_users(f"n{i}", i, "alice") for i in (1, 2, 3)])
    first, last = await store.get(["n1", "n3"])
    assert first.state is State.UNKNOWN and not first.users
    assert last.state is State.PENDING
    # the forgotten one is no longer acked (nothing wrong is recorded anywhere)
    assert len(await store.ack("alice", frozenset(), at(0), at(3), NOW)) == 2


async def test_past_the_age_bound_it_is_unknown(make_store: MakeStore) -> None:
    store = make_store(max_age=0.5)
    old = Tracked("old", "a.b", cursor(1), UsersTarget(user_ids=("alice",)), time.time(), None)
    await store.track([old])
    await asyncio.sleep(0.7)
    new = Tracked("new", "a.b", cursor(2), UsersTarget(user_ids=("alice",)), time.time(), None)
    await store.track([new])
    old_receipt, new_receipt = await store.get(["old", "new"])
    assert old_receipt.state is State.UNKNOWN
    assert new_receipt.state is State.PENDING


async def test_the_feed_resumes_after_a_cursor(make_store: MakeStore) -> None:
    store = make_store()
    head = (await store.read_feed(None, 0, 100)).cursor
    await store.track([to_users(f"n{i}", i, "alice", deadline=NOW) for i in (1, 2, 3)])
    await store.ack("alice", frozenset(), at(0), at(1), NOW)
    await store.expire(NOW + 1)
    page = await store.read_feed(head, 0, 100)
    assert page.complete
    assert [(u.notification_id, u.state) for u in page.updates] == [
        ("n1", State.DELIVERED),
        ("n2", State.UNDELIVERED),
        ("n3", State.UNDELIVERED),
    ]
    rest = await store.read_feed(page.updates[0].cursor, 0, 100)
    assert [u.notification_id for u in rest.updates] == ["n2", "n3"]
    assert (await store.read_feed(rest.cursor, 0, 100)).updates == []


async def test_a_feed_reader_waits_for_news(make_store: MakeStore) -> None:
    store = make_store()
    head = (await store.read_feed(None, 0, 100)).cursor
    await store.track([to_users("n1", 1, "alice")])
    waiting = asyncio.ensure_future(store.read_feed(head, 3.0, 100))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await store.read("alice", frozenset(), "n1", NOW)
    page = await asyncio.wait_for(waiting, 3)
    assert [(u.user_id, u.state) for u in page.updates] == [("alice", State.READ)]


async def test_a_cursor_the_feed_no_longer_holds_reads_incomplete(make_store: MakeStore) -> None:
    store = make_store(feed_size=1)
    head = (await store.read_feed(None, 0, 100)).cursor
    await store.track([to_users(f"n{i}", i, "alice") for i in range(1, 300)])
    for i in range(1, 300):
        await store.read("alice", frozenset(), f"n{i}", NOW)
    page = await store.read_feed(head, 0, 1000)
    assert not page.complete
    assert page.updates[-1].notification_id == "n299"
    assert len(page.updates) < 299


async def test_an_ack_that_overtakes_the_track_still_counts(tmp_path: Path) -> None:
    """On Redis a client on another replica can ack a notification's live message before
    the publishing replica's TRACK of it lands (the append is visible first): the ack's
    range is remembered, and the TRACK applies it, once. (On the memory store no ack can
    come first: tracking runs on the publish's own call, before any flush.)"""
    server = RedisServer(tmp_path)
    server.start()
    store = RedisReceiptStore(server.url, prefix="t")
    try:
        # alice's connection was sent 1 and 2 (a notification to her, a broadcast) and acks
        assert await store.ack("alice", frozenset(), at(0), at(2), NOW + 1) == []
        early = await store.track(
            [to_users("n1", 1, "alice", "bob"), to_topic("b2", 2, None), to_users("n3", 3, "alice")]
        )
        assert sorted(early) == [
            (pytest.approx(1.0, abs=0.01), "news.posted"),
            (pytest.approx(1.0, abs=0.01), "order.shipped"),
        ]
        assert await states(store, "n1") == {"alice": State.DELIVERED, "bob": State.PENDING}
        assert await states(store, "n3") == {"alice": State.PENDING}  # after the ack's range
        (b2,) = await store.get(["b2"])
        assert b2.audience is not None and b2.audience.delivered == 1
        # once: the same ack again, or one of bob's, changes alice's nothing
        assert await store.ack("alice", frozenset(), at(0), at(2), NOW + 2) == []
        page = await store.read_feed("0", 0, 10)  # any cursor: from the oldest
        assert [(u.notification_id, u.user_id, u.state) for u in page.updates] == [
            ("n1", "alice", State.DELIVERED)
        ]
    finally:
        await store.close()
        server.stop()
