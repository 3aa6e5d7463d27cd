"""End to end: real gRPC client → gateway → real WebSocket clients, one case per route."""

from __future__ import annotations

import grpc
import pytest

from gateway.api.v1 import gateway_pb2 as pb
from gateway.app import Gateway
from tests.support.gateway import Connect
from tests.support.helpers import everyone, request, topic, users


async def test_user_gets_exactly_the_published_notification(stub, connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    data = {"order": 42, "price": 9.5, "tags": ["a", None, True], "nested": {"deep": [1, 2]}}
    response = await stub.Publish(
        request(
            users("alice"),
            "order.shipped",
            title="Shipped",
            body="On its way",
            data=data,
            priority=pb.PRIORITY_HIGH,
            id="order-42-shipped",
        )
    )
    assert response.id == "order-42-shipped"
    assert response.delivered == 1
    event = await alice.notification()
    assert event["cursor"] == response.cursor
    assert event["notification"] == {
        "id": "order-42-shipped",
        "type": "order.shipped",
        "title": "Shipped",
        "body": "On its way",
        "data": data,  # whole numbers stay whole: 42, not 42.0
        "priority": "high",
        "created_at": event["notification"]["created_at"],
    }
    assert event["notification"]["created_at"].endswith("Z")
    await bob.nothing()


async def test_data_json_is_delivered_as_published(stub, connect: Connect) -> None:
    alice = await connect("alice")
    text = '{"big": 12345678901234567890, "s": "é", "f": 0.1}'
    await stub.Publish(
        pb.PublishRequest(
            target=users("alice"), notification=pb.Notification(type="t.json", data_json=text)
        )
    )
    event = await alice.notification()
    assert event["notification"]["data"] == {"big": 12345678901234567890, "s": "é", "f": 0.1}


async def test_every_connection_of_a_user_gets_it(stub, connect: Connect) -> None:
    tabs = [await connect("alice") for _ in range(3)]
    response = await stub.Publish(request(users("alice", "nobody"), "tab.sync"))
    assert response.delivered == 3
    for tab in tabs:
        assert (await tab.notification())["cursor"] == response.cursor


async def test_topic_followers_from_query_and_op(stub, connect: Connect) -> None:
    by_query = await connect("alice", topics="news,sport")
    by_op = await connect("bob")
    await by_op.send({"op": "subscribe", "topic": "news"})
    assert await by_op.event() == {"event": "subscribed", "topic": "news"}
    outsider = await connect("carol", topics="sport")

    response = await stub.Publish(request(topic("news"), "news.flash"))
    assert response.delivered == 2
    assert (await by_query.notification())["cursor"] == response.cursor
    assert (await by_op.notification())["cursor"] == response.cursor
    await outsider.nothing()

    await by_op.send({"op": "unsubscribe", "topic": "news"})
    assert await by_op.event() == {"event": "unsubscribed", "topic": "news"}
    response = await stub.Publish(request(topic("news"), "news.flash"))
    assert response.delivered == 1
    await by_op.nothing()


async def test_everyone(stub, connect: Connect) -> None:
    clients = [await connect(f"user{i}") for i in range(4)]
    response = await stub.Publish(request(everyone(), "system.maintenance"))
    assert response.delivered == 4
    for client in clients:
        assert (await client.notification())["cursor"] == response.cursor


async def test_order_is_kept_for_a_burst(stub, connect: Connect) -> None:
    alice = await connect("alice")
    batch = pb.PublishBatchRequest(
        requests=[request(users("alice"), "seq.item", data={"n": n}) for n in range(500)]
    )
    response = await stub.PublishBatch(batch)
    assert all(result.code == 0 for result in response.results)
    got = [(await alice.notification())["notification"]["data"]["n"] for _ in range(500)]
    assert got == list(range(500))


async def test_batch_answers_each_item_and_a_bad_one_sinks_nothing(stub, connect: Connect) -> None:
    alice = await connect("alice")
    batch = pb.PublishBatchRequest(
        requests=[
            request(users("alice"), "batch.one"),
            request(users("alice"), "Bad.Type"),
            pb.PublishRequest(notification=pb.Notification(type="no.target")),
            request(users("alice"), "batch.two"),
        ]
    )
    results = (await stub.PublishBatch(batch)).results
    assert [r.code for r in results] == [0, 3, 3, 0]
    assert results[1].message.startswith("notification.type:")
    assert results[2].message.startswith("target: required")
    assert results[0].cursor and results[3].cursor and not results[1].cursor
    assert (await alice.notification())["notification"]["type"] == "batch.one"
    assert (await alice.notification())["notification"]["type"] == "batch.two"


@pytest.mark.parametrize("size", [0, 1001])
async def test_batch_size_is_bounded(stub, size: int) -> None:
    batch = pb.PublishBatchRequest(requests=[request(everyone())] * size)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.PublishBatch(batch)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "requests: 1 to 1000 items" in failure.value.details()


async def test_stream_answers_in_order_and_ends_on_a_bad_item(stub, connect: Connect) -> None:
    alice = await connect("alice")
    items = [request(users("alice"), "stream.item", data={"n": n}) for n in range(20)]
    call = stub.PublishStream(iter([*items, request(users("alice"), "")]))
    responses = []
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        async for response in call:
            responses.append(response)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details() == "item 20: notification.type: required"
    assert len(responses) == 20
    for n, response in enumerate(responses):
        event = await alice.notification()
        assert event["cursor"] == response.cursor
        assert event["notification"]["data"] == {"n": n}


async def test_presence(stub, connect: Connect) -> None:
    await connect("alice", topics="news")
    await connect("alice")
    await connect("bob", topics="news")
    by_user = await stub.GetPresence(pb.GetPresenceRequest(user_ids=["alice", "bob", "zed"]))
    assert {u.user_id: u.connections for u in by_user.users} == {"alice": 2, "bob": 1, "zed": 0}
    assert by_user.total_connections == 3
    by_topic = await stub.GetPresence(pb.GetPresenceRequest(topic="news"))
    assert {u.user_id: u.connections for u in by_topic.users} == {"alice": 1, "bob": 1}
    assert by_topic.total_connections == 2
    everything = await stub.GetPresence(pb.GetPresenceRequest())
    assert everything.total_connections == 3 and not everything.users


async def test_disconnect_closes_every_connection_with_4009(stub, connect: Connect) -> None:
    tabs = [await connect("alice") for _ in range(2)]
    bob = await connect("bob")
    response = await stub.Disconnect(pb.DisconnectRequest(user_id="alice", reason="logged out"))
    assert response.closed == 2
    for tab in tabs:
        assert await tab.closed() == 4009
    presence = await stub.GetPresence(pb.GetPresenceRequest(user_ids=["alice", "bob"]))
    assert {u.user_id: u.connections for u in presence.users} == {"alice": 0, "bob": 1}
    await stub.Publish(request(users("bob"), "still.here"))
    assert (await bob.notification())["notification"]["type"] == "still.here"


async def test_disconnect_with_a_custom_code(stub, connect: Connect) -> None:
    alice = await connect("alice")
    await stub.Disconnect(pb.DisconnectRequest(user_id="alice", code=4100, reason="banned"))
    assert await alice.closed() == 4100


async def test_publish_to_nobody_is_accepted(gateway: Gateway, stub) -> None:
    response = await stub.Publish(request(users("ghost"), "lonely.event"))
    assert response.delivered == 0 and response.cursor and response.id
