"""The operators' page's API on a live gateway: figures, presence, disconnect and a test
publish; behind the publish token; refused from another site (Redis: tests/redis/test_admin.py)."""

from __future__ import annotations

from typing import Any

import aiohttp

from gateway.ops.site import MAX_BODY_BYTES
from tests.support.admin_api import JSON, admin_url, get_json, post_json
from tests.support.gateway import StartGateway
from tests.support.redis_helpers import ws_client


async def test_figures_presence_publish_and_disconnect(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(ops_port=0)
    tabs = [await ws_client(http, gateway.http_port, "alice") for _ in range(2)]
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/ws?user_id=bad%20id") as refused:
        assert refused.status == 400
    status, figures = await get_json(http, admin_url(gateway, "figures"))
    assert status == 200 and figures["backend"] == "memory"
    (replica,) = figures["replicas"]
    assert replica["connections"] == 2 and replica["accepting"] and replica["backend"]["up"]
    assert replica["refusals"]["connect: refused (400)"] == 1

    assert await get_json(http, admin_url(gateway, "presence") + "?user_id=alice") == (
        200,
        {"user_id": "alice", "connections": 2},
    )
    body = {"target": "users", "to": "alice", "type": "admin.test", "title": "Hello"}
    status, published = await post_json(http, admin_url(gateway, "publish"), body)
    assert status == 200 and published["delivered"] == 2
    for tab in tabs:
        seen = await tab.notification()
        assert (
            seen["notification"]["type"] == "admin.test" and seen["cursor"] == published["cursor"]
        )
    _, figures = await get_json(http, admin_url(gateway, "figures"))
    assert figures["replicas"][0]["published"] == 1 and figures["replicas"][0]["delivered"] == 2

    assert await post_json(http, admin_url(gateway, "disconnect"), {"user_id": "alice"}) == (
        200,
        {"closed": 2},
    )
    assert [await tab.closed() for tab in tabs] == [4009, 4009]


async def test_bad_calls_are_clear_refusals(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(ops_port=0)
    publish, disconnect = admin_url(gateway, "publish"), admin_url(gateway, "disconnect")
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
        got, answer = await post_json(http, url, body, headers)
        assert (got, message in answer["message"]) == (status, True), (body, answer)
    # a form on another site can send text/plain without asking first: refused
    async with http.post(disconnect, data='{"user_id":"a"}') as response:
        assert response.status == 415
    async with http.post(disconnect, data=b"{" * (MAX_BODY_BYTES + 1), headers=JSON) as response:
        assert response.status == 413
        assert (await response.json())["error"] == "content_too_large"
    status, answer = await get_json(http, admin_url(gateway, "presence") + "?user_id=a%20b")
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
        # never framed by another site (a decoy over the Disconnect button)
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        status, answer = await get_json(http, admin_url(gateway, "figures"), headers=headers)
        assert status == 401 and answer["error"] == "unauthenticated"
        status, _ = await post_json(
            http, admin_url(gateway, "disconnect"), {"user_id": "a"}, headers
        )
        assert status == 401
    status, _ = await get_json(
        http, admin_url(gateway, "figures"), headers={"Authorization": "Bearer other"}
    )
    assert status == 200
