"""What the HTTP port answers a request it does not serve as asked, over real sockets.

A route asked with a method it does not serve answers 405 naming the methods it does
(`Allow`, RFC 9110 §15.5.6), in JSON like every other refusal here, whether the route is
the protocol's own (`/ws`, `/sse`) or aiohttp's; a path that is no route is a JSON 404. A
refused `/sse` carries no WebSocket header: `Sec-WebSocket-Version` answers an upgrade
(RFC 6455 §4.4), which `/sse` is not. Each costs at most one log line, never a traceback.
"""

from __future__ import annotations

import logging

import aiohttp
import pytest

from gateway.app import Gateway
from tests.support.gateway import StartGateway
from tests.support.logs import assert_quiet

#: (method, path, what `Allow` names)
WRONG_METHODS = [
    pytest.param("POST", "/sse", "GET", id="post-sse"),
    pytest.param("PUT", "/sse", "GET", id="put-sse"),
    pytest.param("HEAD", "/sse", "GET", id="head-sse"),
    pytest.param("POST", "/ws", "GET", id="post-ws"),
    pytest.param("HEAD", "/ws", "GET", id="head-ws"),
    pytest.param("OPTIONS", "/ws", "GET", id="options-ws"),
    pytest.param("GET", "/sse/ops", "POST", id="get-sse-ops"),
    pytest.param("DELETE", "/healthz", "GET, HEAD", id="delete-healthz"),
    pytest.param("POST", "/client.js", "GET, HEAD", id="post-client-js"),
]


@pytest.mark.parametrize(("method", "path", "allow"), WRONG_METHODS)
async def test_a_method_a_route_does_not_serve_is_405_naming_those_it_does(
    gateway: Gateway,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    allow: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{gateway.http_port}{path}?user_id=alice"
    async with http.request(method, url) as response:
        assert response.status == 405, await response.text()
        assert response.headers["Allow"] == allow
        assert "Sec-WebSocket-Version" not in response.headers
        if method != "HEAD":
            body = await response.json()
            assert body["error"] == "method_not_allowed"
            assert allow in body["message"]
    assert_quiet(caplog)


async def test_without_sse_a_post_to_sse_is_404(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    """With SSE off `/sse` is no route at all, for any method."""
    gateway = await start_gateway(sse=False)
    for method in ("GET", "POST"):
        url = f"http://127.0.0.1:{gateway.http_port}/sse?user_id=alice"
        async with http.request(method, url) as response:
            assert response.status == 404, (method, await response.text())
            assert (await response.json())["error"] == "not_found"


@pytest.mark.parametrize("port", ["http", "ops"])
async def test_a_path_that_is_no_route_is_a_json_404_naming_it(
    start_gateway: StartGateway,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    port: str,
) -> None:
    """aiohttp's own 404 is plain text; here it is JSON like every other refusal, and a
    long path is cut in what it names."""
    caplog.set_level(logging.DEBUG)
    gateway = await start_gateway(ops_port=0)
    number = gateway.http_port if port == "http" else gateway.ops_port
    for path, named in (("/nope", "'/nope'"), ("/" + "x" * 5000, "x" * 99 + "...")):
        async with http.get(f"http://127.0.0.1:{number}{path}") as response:
            assert response.status == 404
            assert response.headers["Content-Type"].startswith("application/json")
            body = await response.json()
            assert body["error"] == "not_found"
            assert named in body["message"]
            assert len(body["message"]) < 200
    assert_quiet(caplog)


#: (request headers, query, status, whether JWT is on): an `/sse` request its edge refuses
SSE_REFUSALS = [
    pytest.param({}, "", 400, False, id="no-user-id"),
    pytest.param(
        {"Last-Event-ID": "not a cursor"}, "user_id=alice", 400, False, id="last-event-id"
    ),
    pytest.param({"Content-Length": "5"}, "user_id=alice", 413, False, id="body"),
    pytest.param({}, "user_id=alice&topics=" + "t," * 9000, 431, False, id="head-too-large"),
    pytest.param({}, "user_id=alice", 401, True, id="no-token"),
    pytest.param({"Authorization": "Bearer x"}, "user_id=alice", 401, True, id="bad-token"),
]


@pytest.mark.parametrize(("headers", "query", "status", "jwt"), SSE_REFUSALS)
async def test_a_refused_sse_request_carries_no_websocket_header(
    start_gateway: StartGateway,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    query: str,
    status: int,
    jwt: bool,
) -> None:
    gateway = await start_gateway(jwt_secret="k" * 32 if jwt else None)
    url = f"http://127.0.0.1:{gateway.http_port}/sse?{query}"
    data = b"hello" if "Content-Length" in headers else None
    async with http.get(url, headers=headers, data=data) as response:
        assert response.status == status, await response.text()
        assert not {"Sec-WebSocket-Version", "Upgrade"} & response.headers.keys()
        assert response.headers["Content-Type"].startswith("application/json")


#: (allow-list, Origin sent, the CORS headers a refused `/sse` carries)
REFUSAL_CORS = [
    pytest.param(None, "https://a.example", {"Access-Control-Allow-Origin": "*"}, id="no-list"),
    pytest.param(
        "https://a.example",
        "https://a.example",
        {
            "Access-Control-Allow-Origin": "https://a.example",
            "Access-Control-Allow-Credentials": "true",
        },
        id="allowed",
    ),
    pytest.param("https://a.example", "https://evil.example", {}, id="not-allowed"),
]


@pytest.mark.parametrize(("allowed", "origin", "expected"), REFUSAL_CORS)
async def test_a_refused_sse_request_tells_an_allowed_page_why(
    start_gateway: StartGateway,
    http: aiohttp.ClientSession,
    allowed: str | None,
    origin: str,
    expected: dict[str, str],
) -> None:
    """A 401 a cross-site fetch-based client cannot read is a network error to it: it
    could not tell an expired token from an outage. An Origin off the list learns nothing."""
    gateway = await start_gateway(jwt_secret="k" * 32, allowed_origins=allowed)
    url = f"http://127.0.0.1:{gateway.http_port}/sse?user_id=alice"
    async with http.get(url, headers={"Origin": origin}) as response:
        assert response.status == (401 if allowed is None or origin == allowed else 403)
        cors = {k: v for k, v in response.headers.items() if k.startswith("Access-Control")}
        assert cors == expected


async def test_the_ops_port_answers_a_wrong_method_the_same_way(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(ops_port=0)
    async with http.post(f"http://127.0.0.1:{gateway.ops_port}/metrics") as response:
        assert response.status == 405
        assert response.headers["Allow"] == "GET, HEAD"
        assert (await response.json())["error"] == "method_not_allowed"
