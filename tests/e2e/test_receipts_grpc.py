"""Receipts at the gRPC edge: receipt_deadline on Publish, GetReceipts, WatchReceipts, each
bad field named; real gateways and a real gRPC client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from tests.support.gateway import StartGateway
from tests.support.helpers import request, topic, users


@pytest.fixture
async def receipts_gateway(start_gateway: StartGateway) -> Gateway:
    return await start_gateway(receipts=True, receipts_seconds=60)


@pytest.fixture
async def rstub(receipts_gateway: Gateway) -> AsyncIterator[pb_grpc.NotificationGatewayStub]:
    async with aio.insecure_channel(f"127.0.0.1:{receipts_gateway.grpc_port}") as channel:
        yield pb_grpc.NotificationGatewayStub(channel)


def deadline(seconds: float) -> Duration:
    value = Duration()
    value.FromNanoseconds(int(seconds * 1e9))
    return value


async def test_a_published_notification_is_pending_for_each_user(rstub) -> None:
    published = await rstub.Publish(
        request(users("alice", "bob"), "order.shipped", receipt_deadline=deadline(30))
    )
    broadcast = await rstub.Publish(request(topic("news"), "news.posted"))
    answer = await rstub.GetReceipts(pb.GetReceiptsRequest(ids=[published.id, broadcast.id, "x"]))
    mine, news, unknown = answer.receipts
    assert mine.state == pb.RECEIPT_STATE_PENDING
    assert mine.cursor == published.cursor and mine.type == "order.shipped"
    assert sorted((u.user_id, u.state) for u in mine.users) == [
        ("alice", pb.RECEIPT_STATE_PENDING),
        ("bob", pb.RECEIPT_STATE_PENDING),
    ]
    assert mine.deadline.ToNanoseconds() - mine.published_at.ToNanoseconds() == pytest.approx(
        30e9, rel=1e-3
    )
    assert news.HasField("audience") and news.audience.delivered == 0
    assert (unknown.id, unknown.state) == ("x", pb.RECEIPT_STATE_UNKNOWN)


async def test_a_passed_deadline_streams_undelivered_to_a_watcher(rstub) -> None:
    watch = rstub.WatchReceipts(pb.WatchReceiptsRequest(type_prefix="order."))
    first = await watch.read()
    assert first.complete and not first.updates
    await rstub.Publish(request(users("carol"), "news.posted", receipt_deadline=deadline(0.2)))
    published = await rstub.Publish(
        request(users("alice"), "order.shipped", receipt_deadline=deadline(0.3))
    )
    update = await asyncio.wait_for(watch.read(), 5)
    (undelivered,) = update.updates  # the news one is filtered out
    assert (undelivered.id, undelivered.user_id, undelivered.state) == (
        published.id,
        "alice",
        pb.RECEIPT_STATE_UNDELIVERED,
    )
    assert update.cursor == undelivered.cursor
    watch.cancel()
    (receipt,) = (await rstub.GetReceipts(pb.GetReceiptsRequest(ids=[published.id]))).receipts
    assert receipt.state == pb.RECEIPT_STATE_UNDELIVERED


async def test_a_watcher_resumes_after_its_cursor(rstub) -> None:
    watch = rstub.WatchReceipts(pb.WatchReceiptsRequest())
    start = (await watch.read()).cursor
    watch.cancel()
    ids = []
    for n in range(3):
        ids.append(
            (await rstub.Publish(request(users(f"u{n}"), "a.b", receipt_deadline=deadline(0.1)))).id
        )
    await asyncio.sleep(0.6)  # all three pass their deadline while nobody watches
    resumed = rstub.WatchReceipts(pb.WatchReceiptsRequest(since=start, ids=ids[1:]))
    first = await asyncio.wait_for(resumed.read(), 5)
    assert first.complete
    assert [u.id for u in first.updates] == ids[1:]
    resumed.cancel()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (pb.GetReceiptsRequest(), "ids"),
        (pb.GetReceiptsRequest(ids=["ok", "has space"]), "ids[1]"),
        (pb.GetReceiptsRequest(ids=["x"] * 1001), "ids"),
        (pb.WatchReceiptsRequest(type_prefix="Order."), "type_prefix"),
        (pb.WatchReceiptsRequest(since="nope"), "since"),
        (pb.WatchReceiptsRequest(ids=[""]), "ids[0]"),
    ],
)
async def test_bad_receipt_requests_name_the_field(rstub, call: object, field: str) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        if isinstance(call, pb.GetReceiptsRequest):
            await rstub.GetReceipts(call)
        else:
            await rstub.WatchReceipts(call).read()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("seconds", "rule"), [(0, "must be positive"), (-1, "must be positive"), (61, "at most 60 s")]
)
async def test_a_bad_receipt_deadline_is_refused(rstub, seconds: float, rule: str) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        await rstub.Publish(request(users("alice"), "a.b", receipt_deadline=deadline(seconds)))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("notification.receipt_deadline: ")
    assert rule in raised.value.details()


async def test_with_receipts_off_their_calls_say_so(stub) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        await stub.Publish(request(users("alice"), "a.b", receipt_deadline=deadline(5)))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "receipts are off" in raised.value.details()
    for call in (
        stub.GetReceipts(pb.GetReceiptsRequest(ids=["x"])),
        stub.WatchReceipts(pb.WatchReceiptsRequest()).read(),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "GATEWAY_RECEIPTS=1" in raised.value.details()
