"""What the HTTP port answers a request it does not serve as asked, over real sockets.

A refused `/sse` carries no WebSocket header: `Sec-WebSocket-Version` answers an upgrade
(RFC 6455 §4.4), which `/sse` is not.
"""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.gateway import StartGateway

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
