"""The operators' page's API with two replicas on one redis-server: every replica's figures,
presence and Disconnect across them, a test publish reaching both; Redis down."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from gateway.app import Gateway
from tests.support.admin_api import admin_url, get_json, post_json
from tests.support.gateway import Client, StartGateway
from tests.support.redis_helpers import RedisServer, ws_client


async def _on_redis(start_gateway: StartGateway, url: str, **settings: Any) -> Gateway:
    gateway = await start_gateway(backend=url, **settings)
    for _ in range(200):
        if gateway.log.healthy:
            return gateway
        await asyncio.sleep(0.02)
    raise AssertionError("the gateway did not reach Redis")


async def test_on_redis_every_replica_is_seen_and_acted_on(
    start_gateway: StartGateway,
    redis_server: RedisServer,
    http: aiohttp.ClientSession,
) -> None:
    a = await _on_redis(start_gateway, redis_server.url, ops_port=0)
    b = await _on_redis(start_gateway, redis_server.url)
    tabs: list[Client] = [
        await ws_client(http, port, "alice") for port in (a.http_port, b.http_port, b.http_port)
    ]
    status, figures = await get_json(http, admin_url(a, "figures"))
    assert status == 200 and figures["backend"] == "redis"
    assert len(figures["replicas"]) == 2
    assert sorted(r["connections"] for r in figures["replicas"]) == [1, 2]
    assert all(r["backend"]["up"] for r in figures["replicas"])
    assert (await get_json(http, admin_url(a, "presence") + "?user_id=alice"))[1][
        "connections"
    ] == 3
    body = {"target": "everyone", "type": "admin.test"}
    status, published = await post_json(http, admin_url(a, "publish"), body)
    assert status == 200 and published["delivered"] == 1  # counted on the accepting replica
    for tab in tabs:
        assert (await tab.notification())["cursor"] == published["cursor"]
    _, figures = await get_json(http, admin_url(a, "figures"))
    # each replica counts what it handed out, whichever replica accepted the publish
    assert sorted(r["delivered"] for r in figures["replicas"]) == [1, 2]
    assert (await post_json(http, admin_url(a, "disconnect"), {"user_id": "alice"}))[1] == {
        "closed": 3
    }
    assert [await tab.closed() for tab in tabs] == [4009] * 3


async def test_while_redis_is_down_the_page_still_has_this_replicas_figures(
    start_gateway: StartGateway,
    redis_server: RedisServer,
    http: aiohttp.ClientSession,
) -> None:
    a = await _on_redis(start_gateway, redis_server.url, ops_port=0)
    await _on_redis(start_gateway, redis_server.url)
    _, figures = await get_json(http, admin_url(a, "figures"))
    assert len(figures["replicas"]) == 2 and figures["others_reached"]
    redis_server.stop()
    for _ in range(300):
        if not a.log.healthy:
            break
        await asyncio.sleep(0.02)
    status, figures = await get_json(http, admin_url(a, "figures"))
    assert status == 200 and not figures["others_reached"]
    (replica,) = figures["replicas"]
    assert replica["backend"]["up"] is False and replica["backend"]["errors"] > 0
