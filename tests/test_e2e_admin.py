"""The operators' page's API on a live gateway: figures, presence, disconnect and a test
publish; behind the publish token; refused from another site; on Redis, every replica."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.ops.site import MAX_BODY_BYTES
from tests.conftest import Client, StartGateway
from tests.redis_helpers import RedisServer, ws_client

JSON = {"Content-Type": "application/json"}


def _api(gateway: Gateway, path: str) -> str:
    return f"http://127.0.0.1:{gateway.ops_port}/admin/api/{path}"


async def _get(http: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, Any]:
    async with http.get(url, **kw) as response:
        return response.status, await response.json()


async def _post(
    http: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_figures_presence_publish_and_disconnect(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(ops_port=0)
    tabs = [await ws_client(http, gateway.http_port, "alice") for _ in range(2)]
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/ws?user_id=bad%20id") as refused:
        assert refused.status == 400
    status, figures = await _get(http, _api(gateway, "figures"))
    assert status == 200 and figures["backend"] == "memory"
    (replica,) = figures["replicas"]
    assert replica["connections"] == 2 and replica["accepting"] and replica["backend"]["up"]
    assert replica["refusals"]["connect: refused (400)"] == 1

    assert await _get(http, _api(gateway, "presence") + "?user_id=alice") == (
        200,
        {"user_id": "alice", "connections": 2},
    )
    body = {"target": "users", "to": "alice", "type": "admin.test", "title": "Hello"}
    status, published = await _post(http, _api(gateway, "publish"), body)
    assert status == 200 and published["delivered"] == 2
    for tab in tabs:
        seen = await tab.notification()
        assert seen["notification"]["type"] == "admin.test" and seen["cursor"] == published["cursor"]
    _, figures = await _get(http, _api(gateway, "figures"))
    assert figures["replicas"][0]["published"] == 1 and figures["replicas"][0]["delivered"] == 2

    assert await _post(http, _api(gateway, "disconnect"), {"user_id": "alice"}) == (
        200,
        {"closed": 2},
    )
    assert [await tab.closed() for tab in tabs] == [4009, 4009]


async def test_bad_calls_are_clear_refusals(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(ops_port=0)
    publish, disconnect = _api(gateway, "publish"), _api(gateway, "disconnect")
    cases: list[tuple[str, Any, dict[str, str] | None, int, str]] = [
        (publish, {"target": "users", "to": "bad id", "type": "a.b"}, None, 400, "user_ids[0]"),
        (publish, {"target": "nobody", "type": "a.b"}, None, 400, "target: one of users"),
        (publish, {"target": "topic", "type": "a.b"}, None, 400, "to: required"),
        (publish, {"target": "everyone", "type": 5}, None, 400, "type: must be a string"),
        (disconnect, [1], None, 400, "body: must be a JSON object"),
        (disconnect, {"user_id": ""}, None, 400, "user_id"),
        # a page on another site may not drive an operator's browser
        (disconnect, {"user_id": "a"}, {"Origin": "http://evil.example"}, 403, "own page"),
    ]
    for url, body, headers, status, message in cases:
        got, answer = await _post(http, url, body, headers)
        assert (got, message in answer["message"]) == (status, True), (body, answer)
    # a form on another site can send text/plain without asking first: refused
    async with http.post(disconnect, data='{"user_id":"a"}') as response:
        assert response.status == 415
    async with http.post(disconnect, data=b"{" * (MAX_BODY_BYTES + 1), headers=JSON) as response:
        assert response.status == 413
    status, answer = await _get(http, _api(gateway, "presence") + "?user_id=a%20b")
    assert status == 400 and "user_id" in answer["message"]
    # the public port has no admin page
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/admin") as response:
        assert response.status == 404


async def test_behind_the_publish_token_when_one_is_set(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(ops_port=0, publish_tokens="s3cret,other")
    async with http.get(f"http://127.0.0.1:{gateway.ops_port}/admin") as page:
        assert page.status == 200 and "admin.js" in await page.text()  # no data in it
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        status, answer = await _get(http, _api(gateway, "figures"), headers=headers)
        assert status == 401 and answer["error"] == "unauthenticated"
        status, _ = await _post(http, _api(gateway, "disconnect"), {"user_id": "a"}, headers)
        assert status == 401
    status, _ = await _get(http, _api(gateway, "figures"), headers={"Authorization": "Bearer other"})
    assert status == 200


async def _on_redis(start_gateway: StartGateway, url: str, **settings: Any) -> Gateway:
    gateway = await start_gateway(backend=url, **settings)
    for _ in range(200):
        if gateway.log.healthy:
            return gateway
        await asyncio.sleep(0.02)
    raise AssertionError("the gateway did not reach Redis")


@pytest.mark.parametrize("replicas", [2])
async def test_on_redis_every_replica_is_seen_and_acted_on(
    replicas: int,
    start_gateway: StartGateway,
    redis_server: RedisServer,
    http: aiohttp.ClientSession,
) -> None:
    a = await _on_redis(start_gateway, redis_server.url, ops_port=0)
    b = await _on_redis(start_gateway, redis_server.url)
    tabs: list[Client] = [
        await ws_client(http, port, "alice") for port in (a.http_port, b.http_port, b.http_port)
    ]
    status, figures = await _get(http, _api(a, "figures"))
    assert status == 200 and figures["backend"] == "redis"
    assert len(figures["replicas"]) == replicas
    assert sorted(r["connections"] for r in figures["replicas"]) == [1, 2]
    assert all(r["backend"]["up"] for r in figures["replicas"])
    assert (await _get(http, _api(a, "presence") + "?user_id=alice"))[1]["connections"] == 3
    body = {"target": "everyone", "type": "admin.test"}
    status, published = await _post(http, _api(a, "publish"), body)
    assert status == 200 and published["delivered"] == 1  # counted on the accepting replica
    for tab in tabs:
        assert (await tab.notification())["cursor"] == published["cursor"]
    assert (await _post(http, _api(a, "disconnect"), {"user_id": "alice"}))[1] == {"closed": 3}
    assert [await tab.closed() for tab in tabs] == [4009] * 3
