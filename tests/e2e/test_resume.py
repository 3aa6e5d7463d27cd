"""Nothing lost across a drop: replay after ?since=, idempotent ids, ttl, racing publishes."""

from __future__ import annotations

import asyncio

import grpc

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from tests.support.gateway import Connect, StartGateway
from tests.support.helpers import everyone, request, topic, users


async def test_resume_replays_what_was_missed_in_order_then_live(stub, connect: Connect) -> None:
    alice = await connect("alice", topics="news")
    seen = await stub.Publish(request(users("alice"), "before.drop"))
    assert (await alice.notification())["cursor"] == seen.cursor
    await alice.ws.close()

    missed = []
    for target, kind in [
        (users("alice"), "to.alice"),
        (topic("news"), "to.news"),
        (everyone(), "to.all"),
        (users("bob"), "to.bob"),
        (topic("sport"), "to.sport"),
        (users("alice", "bob"), "to.both"),
    ]:
        response = await stub.Publish(request(target, kind))
        missed.append((kind, response.cursor))

    back = await connect("alice", topics="news", since=seen.cursor)
    resumed = await back.event()
    assert resumed == {"event": "resumed", "since": seen.cursor, "complete": True, "replayed": 4}
    replayed = [await back.notification() for _ in range(4)]
    wanted = [(k, c) for k, c in missed if k not in ("to.bob", "to.sport")]
    assert [(e["notification"]["type"], e["cursor"]) for e in replayed] == wanted
    live = await stub.Publish(request(users("alice"), "after.resume"))
    assert (await back.notification())["cursor"] == live.cursor
    await back.nothing()


async def test_welcome_cursor_resumes_with_nothing_missed(stub, connect: Connect) -> None:
    client = await connect("alice", welcome=False)
    welcome = await client.event()
    await client.ws.close()
    again = await connect("alice", since=welcome["cursor"])
    assert await again.event() == {
        "event": "resumed",
        "since": welcome["cursor"],
        "complete": True,
        "replayed": 0,
    }


async def test_replay_racing_live_publishes_has_no_gap_and_no_duplicate(
    gateway: Gateway, stub, connect: Connect
) -> None:
    first = await stub.Publish(request(users("alice"), "seq", data={"n": -1}))
    total = 400

    async def publish_all() -> None:
        for n in range(total):
            await stub.Publish(request(users("alice"), "seq", data={"n": n}))

    publisher = asyncio.create_task(publish_all())
    await asyncio.sleep(0.05)  # let part of it land before the resume
    client = await connect("alice", since=first.cursor)
    resumed = await client.event()
    assert resumed["event"] == "resumed" and resumed["complete"]
    await publisher
    got = [(await client.notification())["notification"]["data"]["n"] for _ in range(total)]
    assert got == list(range(total))
    await client.nothing()


async def test_old_or_foreign_cursor_says_incomplete(start_gateway: StartGateway, http) -> None:
    gateway = await start_gateway(history_size=3)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        first = await stub.Publish(request(users("alice"), "n.0"))
        for n in range(1, 6):
            await stub.Publish(request(users("alice"), f"n.{n}"))
    url = f"http://127.0.0.1:{gateway.http_port}/ws"
    for since, expected in [(first.cursor, ["n.3", "n.4", "n.5"]), ("0-1", ["n.3", "n.4", "n.5"])]:
        ws = await http.ws_connect(url, params={"user_id": "alice", "since": since})
        assert (await ws.receive_json())["event"] == "welcome"
        resumed = await ws.receive_json()
        assert resumed["complete"] is False and resumed["replayed"] == 3
        got = [(await ws.receive_json())["notification"]["type"] for _ in range(3)]
        assert got == expected
        await ws.close()


async def test_repeated_id_is_delivered_once_and_answers_the_first_cursor(
    stub, connect: Connect
) -> None:
    alice = await connect("alice")
    first = await stub.Publish(request(users("alice"), "pay.done", id="payment-7"))
    again = await stub.Publish(request(users("alice"), "pay.done", id="payment-7"))
    assert again.cursor == first.cursor and again.id == "payment-7"
    assert first.delivered == 1 and again.delivered == 0
    assert (await alice.notification())["cursor"] == first.cursor
    await alice.nothing()


async def test_ttl_zero_is_live_only(stub, connect: Connect) -> None:
    alice = await connect("alice", welcome=False)
    start = (await alice.event())["cursor"]
    await alice.ws.close()
    live_only = request(users("alice"), "typing.indicator")
    live_only.notification.ttl.seconds = 0
    await stub.Publish(live_only)
    kept = await stub.Publish(request(users("alice"), "message.new"))
    back = await connect("alice", since=start)
    assert (await back.event())["replayed"] == 1
    assert (await back.notification())["cursor"] == kept.cursor


async def test_batch_with_duplicate_ids_inside(stub, connect: Connect) -> None:
    alice = await connect("alice")
    batch = pb.PublishBatchRequest(
        requests=[request(users("alice"), "dup.item", id="same") for _ in range(3)]
    )
    results = (await stub.PublishBatch(batch)).results
    assert len({r.cursor for r in results}) == 1
    assert [r.delivered for r in results] == [1, 0, 0]
    await alice.notification()
    await alice.nothing()
