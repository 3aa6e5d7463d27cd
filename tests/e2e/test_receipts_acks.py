"""Receipts from the client side: `ack` and `read` ops on real WebSockets, what counts and
what is ignored (and counted), the Python Subscriber acking by itself."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from gateway.api.v1 import gateway_pb2 as pb
from gateway.app import Gateway
from gateway.client import AsyncPublisher, Subscriber
from tests.support.gateway import Client, StartGateway
from tests.support.waiting import until


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> Gateway:
    """The `connect` fixture's gateway, here with receipts on."""
    return await start_gateway(receipts=True)


@pytest.fixture
async def pub(gateway: Gateway) -> Any:
    async with AsyncPublisher(f"127.0.0.1:{gateway.grpc_port}", timeout=3.0) as publisher:
        yield publisher


async def states(pub: AsyncPublisher, nid: str) -> dict[str, int]:
    (receipt,) = await pub.get_receipts([nid])
    return {u.user_id: u.state for u in receipt.users}


async def eventually(pub: AsyncPublisher, nid: str, want: dict[str, int]) -> None:
    # by the clock, not a count of polls: on a loaded machine each poll (a GetReceipts call)
    # can take long enough that 150 of them ran out before a 2 s ack timer fired
    deadline = asyncio.get_running_loop().time() + 8.0
    while asyncio.get_running_loop().time() < deadline:
        if await states(pub, nid) == want:
            return
        await asyncio.sleep(0.02)
    assert await states(pub, nid) == want


DELIVERED, READ, PENDING = (
    pb.RECEIPT_STATE_DELIVERED,
    pb.RECEIPT_STATE_READ,
    pb.RECEIPT_STATE_PENDING,
)


async def test_the_welcome_says_receipts_are_on(connect) -> None:
    alice = await connect("alice", welcome=False)
    welcome = await alice.event()
    assert welcome["event"] == "welcome" and welcome["receipts"] is True


async def test_an_ack_delivers_and_a_read_reads(connect, pub) -> None:
    alice = await connect("alice")
    first = await pub.publish(users=["alice", "bob"], type="order.shipped")
    second = await pub.publish(users=["alice"], type="order.paid")
    await alice.notification()
    await alice.notification()
    await alice.send({"op": "ack", "cursor": second.cursor})  # cumulative: covers both
    await alice.nothing()  # acks are not answered
    await eventually(pub, first.id, {"alice": DELIVERED, "bob": PENDING})
    await eventually(pub, second.id, {"alice": DELIVERED})
    await alice.send({"op": "read", "id": first.id})
    await eventually(pub, first.id, {"alice": READ, "bob": PENDING})


async def test_acks_that_do_not_count_are_ignored_counted_and_harm_nobody(
    connect, pub, gateway: Gateway
) -> None:
    alice = await connect("alice")
    mallory = await connect("mallory")
    mine = await pub.publish(users=["mallory"], type="a.b")
    theirs = await pub.publish(users=["alice"], type="a.b")
    await mallory.notification()
    await alice.notification()
    stats = gateway.service.receipts.stats  # type: ignore[union-attr]
    before = stats.acks_ignored
    # a cursor never sent to mallory (alice's), one from the future, another user's id
    await mallory.send({"op": "ack", "cursor": theirs.cursor})
    await mallory.send({"op": "ack", "cursor": f"{theirs.cursor.rpartition('-')[0]}-999999"})
    await mallory.send({"op": "read", "id": theirs.id})
    # and a flood of the same ack: applied once, the rest ignored
    for _ in range(500):
        await mallory.send({"op": "ack", "cursor": mine.cursor})
    await alice.send({"op": "ack", "cursor": theirs.cursor})
    await eventually(pub, theirs.id, {"alice": DELIVERED})
    await eventually(pub, mine.id, {"mallory": DELIVERED})
    await until(lambda: stats.acks_ignored >= before + 502, what="ignored acks counted")
    await mallory.nothing()  # no error, no close: a client racing a reconnect is not punished
    assert (await states(pub, theirs.id)) == {"alice": DELIVERED}


async def test_a_client_that_connected_later_cannot_ack_what_came_before(connect, pub) -> None:
    early = await pub.publish(users=["alice"], type="a.b")
    alice = await connect("alice")
    late = await pub.publish(users=["alice"], type="a.b")
    await alice.notification()
    await alice.send({"op": "ack", "cursor": late.cursor})
    await eventually(pub, late.id, {"alice": DELIVERED})
    assert await states(pub, early.id) == {"alice": PENDING}


async def test_a_resumed_client_acks_what_it_missed(connect, pub) -> None:
    alice = await connect("alice", welcome=False)
    head = (await alice.event())["cursor"]
    await alice.ws.close()
    missed = await pub.publish(users=["alice"], type="a.b", receipt_deadline=timedelta(seconds=30))
    back = await connect("alice", since=head)
    assert (await back.event())["event"] == "resumed"
    replayed = await back.notification()
    await back.send({"op": "ack", "cursor": replayed["cursor"]})
    await eventually(pub, missed.id, {"alice": DELIVERED})


async def test_what_a_complete_resume_did_not_replay_is_not_acked(connect, pub) -> None:
    """A ttl=0 notification to an offline user is never replayed to them: an ack of the
    resumed connection covering its cursor must leave it pending (it was never sent)."""
    alice = await connect("alice", welcome=False)
    head = (await alice.event())["cursor"]
    await alice.ws.close()
    expired = await pub.publish(users=["alice"], type="a.b", ttl=timedelta(0))
    missed = await pub.publish(users=["alice"], type="a.b")
    back = await connect("alice", since=head)
    resumed = await back.event()
    assert resumed["event"] == "resumed" and resumed["complete"] and resumed["replayed"] == 1
    replayed = await back.notification()
    assert replayed["cursor"] == missed.cursor
    live = await pub.publish(users=["alice"], type="a.b")
    assert (await back.notification())["cursor"] == live.cursor
    await back.send({"op": "ack", "cursor": live.cursor})  # covers all three cursors
    await eventually(pub, live.id, {"alice": DELIVERED})
    await eventually(pub, missed.id, {"alice": DELIVERED})
    assert await states(pub, expired.id) == {"alice": PENDING}


async def test_topic_acks_count_distinct_users(connect, pub) -> None:
    tabs = [await connect("alice", topics="news") for _ in range(2)]
    bob = await connect("bob", topics="news")
    carol = await connect("carol")  # follows nothing
    news = await pub.publish(topic="news", type="news.posted")
    everyone = await pub.publish(everyone=True, type="site.notice")
    for client in [*tabs, bob]:
        await client.notification()
        await client.notification()
        await client.send({"op": "ack", "cursor": everyone.cursor})
    await carol.notification()
    await carol.send({"op": "ack", "cursor": everyone.cursor})
    for _ in range(150):
        found = await pub.get_receipts([news.id, everyone.id])
        if [r.audience.delivered for r in found] == [2, 3]:
            break
        await asyncio.sleep(0.02)
    assert [r.audience.delivered for r in found] == [2, 3]


@pytest.mark.parametrize(
    ("op", "field"),
    [({"op": "ack"}, "cursor"), ({"op": "ack", "cursor": 5}, "cursor"), ({"op": "read"}, "id")],
)
async def test_a_malformed_ack_or_read_names_the_field(
    connect, op: dict[str, Any], field: str
) -> None:
    alice = await connect("alice")
    await alice.send(op)
    error = await alice.event()
    assert (error["event"], error["code"], error["field"]) == ("error", "bad_frame", field)


async def test_with_receipts_off_acks_are_answered_not_punished(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    off = await start_gateway()
    ws = await http.ws_connect(f"http://127.0.0.1:{off.http_port}/ws", params={"user_id": "a"})
    client = Client(ws)
    welcome = await client.event()
    assert "receipts" not in welcome
    for _ in range(12):  # past the bad-frame limit: still open
        await client.send({"op": "ack", "cursor": welcome["cursor"]})
        error = await client.event()
        assert (error["code"], error["field"]) == ("receipts_off", "op")
    await client.send({"op": "ping"})
    assert (await client.event())["event"] == "pong"
    await ws.close()


async def test_the_subscriber_acks_by_itself_and_marks_read(gateway: Gateway, pub) -> None:
    url = f"ws://127.0.0.1:{gateway.http_port}/ws"
    async with Subscriber(url, "dora", ack_interval=0.05) as sub:
        items = aiter(sub)
        ready = asyncio.ensure_future(anext(items))
        await until(lambda: sub.state == "connected", what="connected")
        sent = await pub.publish(users=["dora"], type="order.shipped")
        item = await asyncio.wait_for(ready, 5)
        assert item.cursor == sent.cursor  # type: ignore[union-attr]
        following = asyncio.ensure_future(anext(items))  # asking for more: the last is handled
        await eventually(pub, sent.id, {"dora": DELIVERED})
        await sub.mark_read(sent.id)
        await eventually(pub, sent.id, {"dora": READ})
        following.cancel()


async def test_the_subscriber_acks_the_first_at_once_and_a_burst_an_interval_later(
    gateway: Gateway, pub
) -> None:
    url = f"ws://127.0.0.1:{gateway.http_port}/ws"
    async with Subscriber(url, "erin", ack_interval=2.0) as sub:
        items = aiter(sub)
        ready = asyncio.ensure_future(anext(items))
        await until(lambda: sub.state == "connected", what="connected")
        first = await pub.publish(users=["erin"], type="order.shipped")
        await asyncio.wait_for(ready, 5)
        asked = asyncio.get_running_loop().time()
        following = asyncio.ensure_future(anext(items))  # the first is handled: acked at once
        try:
            await eventually(pub, first.id, {"erin": DELIVERED})
            assert asyncio.get_running_loop().time() - asked < 1.0  # not the 2 s interval
            burst = [await pub.publish(users=["erin"], type="a.b") for _ in range(3)]
            for sent in burst:  # handed over and handled within the interval: owed
                item = await asyncio.wait_for(following, 5)
                assert item.cursor == sent.cursor  # type: ignore[union-attr]
                following = asyncio.ensure_future(anext(items))
            await asyncio.sleep(0.3)
            assert [await states(pub, s.id) for s in burst] == [{"erin": PENDING}] * 3
            for sent in burst:  # one trailing ack, 2 s after the first, covers all three
                await eventually(pub, sent.id, {"erin": DELIVERED})
            assert asyncio.get_running_loop().time() - asked >= 1.9
        finally:
            following.cancel()  # a failure leaves no iteration running into the close
