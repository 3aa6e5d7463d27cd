"""Receipts on Redis, through the Python SDK: shared by replicas, a watcher that restarts
resumes from its cursor and misses nothing, Redis restarted mid-traffic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from gateway.api.v1 import gateway_pb2 as pb
from gateway.app import Gateway
from gateway.client import AsyncPublisher, PublishError, ReceiptsIncomplete
from tests.support.gateway import StartGateway
from tests.support.redis_helpers import RedisServer, reached_redis

SOON = timedelta(seconds=0.2)


def publisher(gateway: Gateway) -> AsyncPublisher:
    return AsyncPublisher(f"127.0.0.1:{gateway.grpc_port}", timeout=2.0)


async def next_update(
    feed: AsyncIterator[pb.ReceiptUpdate], within: float = 10.0
) -> pb.ReceiptUpdate:
    return await asyncio.wait_for(anext(feed), within)


async def test_a_watcher_restarts_on_another_replica_and_misses_nothing(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        settings = {"backend": redis.url, "receipts": True}
        a = await start_gateway(**settings)
        b = await start_gateway(**settings)
        await reached_redis(a)
        await reached_redis(b)
        async with publisher(a) as on_a, publisher(b) as on_b:
            feed = on_b.receipts(type_prefix="order.")
            # the feed's first response is read before anything is published
            watching = asyncio.ensure_future(next_update(feed))
            await asyncio.sleep(0.3)
            first = await on_a.publish(users=["carol"], type="order.shipped", receipt_deadline=SOON)
            update = await watching
            assert (update.id, update.user_id, update.state) == (
                first.id,
                "carol",
                pb.RECEIPT_STATE_UNDELIVERED,
            )
            saved = update.cursor
            await feed.aclose()  # the watcher goes away
            await b.drain()  # and so does the replica it watched on
            missed = [
                (await on_a.publish(users=[f"u{n}"], type="order.paid", receipt_deadline=SOON)).id
                for n in range(3)
            ]
            await on_a.publish(users=["dave"], type="news.posted", receipt_deadline=SOON)
            await asyncio.sleep(0.8)  # every deadline passes while nobody watches
            c = await start_gateway(**settings)  # the restarted replica
            await reached_redis(c)
            async with publisher(c) as on_c:
                resumed = on_c.receipts(type_prefix="order.", since=saved)
                got = [await next_update(resumed) for _ in missed]
                assert [u.id for u in got] == missed
                assert {u.state for u in got} == {pb.RECEIPT_STATE_UNDELIVERED}
                # and any replica answers for any publish
                (receipt,) = await on_c.get_receipts([first.id])
                assert receipt.state == pb.RECEIPT_STATE_UNDELIVERED
                await resumed.aclose()
    finally:
        redis.stop()


async def test_a_cursor_the_feed_dropped_raises_incomplete(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(receipts=True, receipts_feed_size=2)
    async with publisher(gateway) as pub:
        feed = pub.receipts()
        watching = asyncio.ensure_future(next_update(feed))
        await asyncio.sleep(0.2)
        await pub.publish(users=["a"], type="a.b", receipt_deadline=SOON)
        saved = (await watching).cursor
        await feed.aclose()
        for user in "bcde":
            await pub.publish(users=[user], type="a.b", receipt_deadline=SOON)
        await asyncio.sleep(0.8)
        with pytest.raises(ReceiptsIncomplete) as raised:
            await next_update(pub.receipts(since=saved))
        assert raised.value.since == saved and raised.value.cursor


async def test_redis_restarted_mid_traffic(start_gateway: StartGateway, tmp_path: Path) -> None:
    redis = RedisServer(tmp_path, persistent=True)
    redis.start()
    try:
        gateway = await start_gateway(backend=redis.url, receipts=True)
        await reached_redis(gateway)
        async with publisher(gateway) as pub:
            feed = pub.receipts()
            watching = asyncio.ensure_future(next_update(feed))
            await asyncio.sleep(0.3)
            before = await pub.publish(users=["alice"], type="a.b", receipt_deadline=SOON)
            assert (await watching).id == before.id
            redis.stop()
            with pytest.raises(PublishError) as raised:
                await pub.get_receipts([before.id])
            assert raised.value.code == grpc.StatusCode.UNAVAILABLE
            redis.start()
            await reached_redis(gateway)
            after = await pub.publish(users=["bob"], type="a.b", receipt_deadline=SOON)
            # the SDK's feed reconnected by itself, from its cursor
            update = await next_update(feed, 15)
            assert (update.id, update.state) == (after.id, pb.RECEIPT_STATE_UNDELIVERED)
            receipts = await pub.get_receipts([before.id, after.id])
            assert [r.state for r in receipts] == [pb.RECEIPT_STATE_UNDELIVERED] * 2
            await feed.aclose()
    finally:
        redis.stop()
