"""Several gateways on one real Redis behave as one: delivery, order, cursors, idempotency."""

from __future__ import annotations

import asyncio

import aiohttp
import grpc
import pytest
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from tests.support.gateway import StartGateway
from tests.support.helpers import everyone, request, users
from tests.support.redis_helpers import ws_client

Stub = pb_grpc.NotificationGatewayStub


async def test_a_publish_on_each_replica_reaches_users_on_every_other(
    on_redis, stubs, http: aiohttp.ClientSession
) -> None:
    gateways = [await on_redis() for _ in range(3)]
    names = ["alice", "bob", "carol"]
    clients = [await ws_client(http, g.http_port, n) for g, n in zip(gateways, names, strict=True)]
    for i, gateway in enumerate(gateways):
        response = await stubs(gateway).Publish(request(users(*names), f"from.g{i}"))
        assert response.delivered == 1  # the accepting replica's own connection
        for client in clients:
            got = await client.notification()
            assert (got["cursor"], got["notification"]["type"]) == (response.cursor, f"from.g{i}")
    for client in clients:
        await client.nothing()


async def test_tabs_on_two_replicas_see_one_order(
    on_redis, stubs, http: aiohttp.ClientSession
) -> None:
    a, b = await on_redis(), await on_redis()
    tab_a = await ws_client(http, a.http_port, "alice")
    tab_b = await ws_client(http, b.http_port, "alice")
    pair = [stubs(a), stubs(b)]

    async def publish(stub: Stub, who: str) -> list[str]:
        return [
            (await stub.Publish(request(everyone(), f"{who}.n", data={"n": n}))).cursor
            for n in range(40)
        ]

    from_a, from_b = await asyncio.gather(publish(pair[0], "a"), publish(pair[1], "b"))
    seen_a = [(await tab_a.notification())["cursor"] for _ in range(80)]
    seen_b = [(await tab_b.notification())["cursor"] for _ in range(80)]
    assert seen_a == seen_b
    assert sorted(seen_a) == sorted(from_a + from_b)
    order = [tuple(int(p) for p in c.partition(".")[2].split("-")) for c in seen_a]
    assert order == sorted(order)
    await tab_a.nothing()


async def test_a_cursor_from_one_replica_resumes_on_another(
    on_redis, stubs, http: aiohttp.ClientSession
) -> None:
    a, b, c = await on_redis(), await on_redis(), await on_redis()
    alice = await ws_client(http, a.http_port, "alice")
    first = await stubs(a).Publish(request(users("alice"), "seen"))
    assert (await alice.notification())["cursor"] == first.cursor
    await alice.ws.close()
    publish = stubs(b).Publish
    missed = [(await publish(request(users("alice"), f"m{n}"))).cursor for n in range(3)]
    await stubs(b).Publish(request(users("bob"), "not.hers"))
    back = await ws_client(http, c.http_port, "alice", since=first.cursor)
    assert await back.event() == {
        "event": "resumed",
        "since": first.cursor,
        "complete": True,
        "replayed": 3,
    }
    assert [(await back.notification())["cursor"] for _ in range(3)] == missed
    live = await stubs(a).Publish(request(users("alice"), "live"))
    assert (await back.notification())["cursor"] == live.cursor
    await back.nothing()


async def test_resume_after_every_gateway_restarted(
    on_redis, stubs, http: aiohttp.ClientSession
) -> None:
    a, b = await on_redis(), await on_redis()
    alice = await ws_client(http, a.http_port, "alice")
    first = await stubs(b).Publish(request(users("alice"), "seen"))
    assert (await alice.notification())["cursor"] == first.cursor
    publish = stubs(b).Publish
    missed = [(await publish(request(users("alice"), f"m{n}"))).cursor for n in range(2)]
    await alice.ws.close()
    await a.drain()
    await b.drain()
    c = await on_redis()
    back = await ws_client(http, c.http_port, "alice", since=first.cursor)
    resumed = await back.event()
    assert resumed["complete"] is True and resumed["replayed"] == 2
    assert [(await back.notification())["cursor"] for _ in range(2)] == missed


async def test_a_cursor_from_another_store_is_incomplete(
    on_redis, start_gateway: StartGateway, stubs, redis_server, http
) -> None:
    memory = await start_gateway()
    memory_cursor = (await stubs(memory).Publish(request(users("alice"), "m"))).cursor
    a = await on_redis()
    old = (await stubs(a).Publish(request(users("alice"), "before.flush"))).cursor
    for since in (memory_cursor, old):
        client = await ws_client(http, a.http_port, "alice", since=since)
        resumed = await client.event()
        assert resumed["complete"] is (since == old), resumed
        await client.ws.close()
    redis_server.command("FLUSHALL")
    await stubs(a).Publish(request(users("alice"), "after.flush"))
    await asyncio.sleep(0.3)  # the follower notices the new store
    client = await ws_client(http, a.http_port, "alice", since=old)
    resumed = await client.event()
    assert resumed["complete"] is False, resumed


async def test_an_id_is_accepted_once_across_replicas_and_a_reuse_is_refused(
    on_redis, stubs, http: aiohttp.ClientSession
) -> None:
    a, b = await on_redis(), await on_redis()
    alice = await ws_client(http, a.http_port, "alice")
    first = await stubs(a).Publish(request(users("alice"), "once", id="order-1"))
    again = await stubs(b).Publish(request(users("alice"), "once", id="order-1"))
    assert again.cursor == first.cursor and again.delivered == 0
    assert (await alice.notification())["cursor"] == first.cursor
    await alice.nothing()
    with pytest.raises(aio.AioRpcError) as refused:
        await stubs(b).Publish(request(users("alice"), "other", id="order-1"))
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "order-1" in (refused.value.details() or "")
    batch = await stubs(b).PublishBatch(
        pb.PublishBatchRequest(
            requests=[
                request(users("bob"), "once", id="order-1"),  # another target
                request(users("alice"), "once", id="order-1"),  # the same: duplicate
                request(users("alice"), "fresh", id="order-2"),
            ]
        )
    )
    codes = [r.code for r in batch.results]
    assert codes == [grpc.StatusCode.ALREADY_EXISTS.value[0], 0, 0]
    assert batch.results[1].cursor == first.cursor
    assert (await alice.notification())["notification"]["id"] == "order-2"
    await alice.nothing()
