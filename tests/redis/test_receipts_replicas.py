"""Receipts across replicas on Redis, acked over real WebSockets: a user's tabs on two
replicas make one `delivered`; a user offline at publish who comes back (to a restarted
gateway) within the deadline is `delivered`, one who does not is `undelivered`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from pathlib import Path

import aiohttp

from gateway.api.v1 import gateway_pb2 as pb
from gateway.app import Gateway
from gateway.client import AsyncPublisher
from tests.support.gateway import StartGateway
from tests.support.redis_helpers import RedisServer, reached_redis, ws_client


def _applied(gateway: Gateway) -> int:
    receipts = gateway.service.receipts
    assert receipts is not None
    return receipts.stats.acks_applied


async def _state(pub: AsyncPublisher, nid: str, user: str, want: int, within: float = 5) -> None:
    deadline = time.monotonic() + within
    while True:
        (receipt,) = await pub.get_receipts([nid])
        got = {u.user_id: u.state for u in receipt.users}.get(user)
        if got == want or time.monotonic() > deadline:
            assert got == want, f"{user}: {got} != {want}"
            return
        await asyncio.sleep(0.05)


async def test_tabs_on_two_replicas_make_one_delivered(
    start_gateway: StartGateway, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        settings = {"backend": redis.url, "receipts": True}
        a, b = await start_gateway(**settings), await start_gateway(**settings)
        await reached_redis(a)
        await reached_redis(b)
        tab_a = await ws_client(http, a.http_port, "alice")
        tab_b = await ws_client(http, b.http_port, "alice")
        async with AsyncPublisher(f"127.0.0.1:{a.grpc_port}") as pub:
            feed = pub.receipts()
            watching = asyncio.ensure_future(anext(feed))
            await asyncio.sleep(0.3)
            sent = await pub.publish(users=["alice"], type="order.shipped")
            for tab in (tab_a, tab_b):
                frame = await tab.notification()
                await tab.send({"op": "ack", "cursor": frame["cursor"]})
            update = await asyncio.wait_for(watching, 5)
            assert (update.id, update.user_id, update.state) == (
                sent.id,
                "alice",
                pb.RECEIPT_STATE_DELIVERED,
            )
            await asyncio.sleep(0.5)  # the second tab's ack is applied too, and adds nothing
            assert _applied(a) + _applied(b) == 2
            nothing_more = asyncio.ensure_future(anext(feed))
            await asyncio.sleep(0.3)
            assert not nothing_more.done()
            nothing_more.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await nothing_more
            await feed.aclose()
    finally:
        redis.stop()


async def test_offline_then_back_after_a_gateway_restart_within_the_deadline(
    start_gateway: StartGateway, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        settings = {"backend": redis.url, "receipts": True}
        first = await start_gateway(**settings)
        await reached_redis(first)
        alice = await ws_client(http, first.http_port, "alice", welcome=False)
        head = (await alice.event())["cursor"]
        bob = await ws_client(http, first.http_port, "bob", welcome=False)
        bob_head = (await bob.event())["cursor"]
        await alice.ws.close()
        await bob.ws.close()
        async with AsyncPublisher(f"127.0.0.1:{first.grpc_port}") as pub:
            to_alice = await pub.publish(
                users=["alice"], type="a.b", receipt_deadline=timedelta(seconds=20)
            )
            to_bob = await pub.publish(
                users=["bob"], type="a.b", receipt_deadline=timedelta(seconds=0.5)
            )
        await first.drain()  # the gateway restarts
        again = await start_gateway(**settings)
        await reached_redis(again)
        async with AsyncPublisher(f"127.0.0.1:{again.grpc_port}") as pub:
            back = await ws_client(http, again.http_port, "alice", since=head)
            assert (await back.event())["event"] == "resumed"
            frame = await back.notification()
            assert frame["notification"]["id"] == to_alice.id
            await back.send({"op": "ack", "cursor": frame["cursor"]})
            await _state(pub, to_alice.id, "alice", pb.RECEIPT_STATE_DELIVERED)
            # bob comes back after his deadline: undelivered stays on record until he acks
            await _state(pub, to_bob.id, "bob", pb.RECEIPT_STATE_UNDELIVERED)
            late = await ws_client(http, again.http_port, "bob", since=bob_head)
            await late.event()  # resumed
            frame = await late.notification()
            await late.send({"op": "ack", "cursor": frame["cursor"]})
            await _state(pub, to_bob.id, "bob", pb.RECEIPT_STATE_DELIVERED)
            (receipt,) = await pub.get_receipts([to_bob.id])
            assert receipt.users[0].HasField("undelivered_at")
    finally:
        redis.stop()
