"""`GET /sse` over real sockets: events, cursors, resume, ops, close codes, limits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import aiohttp
import jwt
import pytest

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from gateway.websocket import protocol as ws_protocol
from tests.support.gateway import StartGateway
from tests.support.helpers import everyone, request, topic, users
from tests.support.logs import assert_quiet
from tests.support.sse import SseClient
from tests.support.waiting import until
from tests.support.wsraw import read_once_closed, small_window_socket

SECRET = "k" * 32


async def _stub(gateway: Gateway) -> pb_grpc.NotificationGatewayStub:
    from grpc import aio

    channel = aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}")
    return pb_grpc.NotificationGatewayStub(channel)


async def _publish(gateway: Gateway, target: pb.Target, **fields: str) -> str:
    stub = await _stub(gateway)
    reply = await stub.Publish(request(target, **fields))
    return str(reply.cursor)


async def _open(gateway: Gateway, query: str, *headers: str) -> SseClient:
    return await SseClient.open(gateway.http_port, f"/sse?{query}", *headers)


async def _still_streams(gateway: Gateway) -> None:
    """After a hostile client, a well-behaved stream is admitted and gets its notification."""
    client = await _open(gateway, "user_id=well-behaved")
    await client.event()
    cursor = await _publish(gateway, users("well-behaved"), title="still served")
    assert (await client.notification()).id == cursor
    client.close()


async def test_a_stream_gets_user_topic_and_everyone_notifications_with_cursor_ids(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway()
    client = await _open(gateway, "user_id=alice&topics=news")
    assert client.status == 200
    assert client.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert "no-cache" in client.headers["cache-control"]
    welcome = await client.event()
    assert client.retry == 3000
    assert welcome.name == "welcome" and welcome.data["user_id"] == "alice"
    assert welcome.id == welcome.data["cursor"]  # a reconnecting EventSource resumes there
    assert welcome.data["topics"] == ["news"] and welcome.data["stream"]
    cursors = [
        await _publish(gateway, users("alice"), title="to alice"),
        await _publish(gateway, topic("news"), title="news"),
        await _publish(gateway, everyone(), title="all"),
    ]
    await _publish(gateway, users("bob"), title="not hers")
    events = [await client.notification() for _ in range(3)]
    assert [e.id for e in events] == cursors == [e.data["cursor"] for e in events]
    assert [e.data["notification"]["title"] for e in events] == ["to alice", "news", "all"]
    await client.nothing()
    presence, total = await gateway.service.presence(["alice"], None)
    assert presence == {"alice": 1} and total == 1
    client.close()
    await until(lambda: len(gateway.service.hub) == 0)  # EOF ends it at once


async def test_curl_reads_a_stream(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    curl = await asyncio.create_subprocess_exec(
        "curl",
        "-N",
        "-s",
        f"http://127.0.0.1:{gateway.http_port}/sse?user_id=carol",
        stdout=asyncio.subprocess.PIPE,
    )
    assert curl.stdout is not None
    try:
        await until(lambda: len(gateway.service.hub) == 1)
        await _publish(gateway, users("carol"), title="via curl")
        lines = []
        async with asyncio.timeout(5):
            while not any(b"via curl" in line for line in lines):
                lines.append(await curl.stdout.readline())
        data = next(line for line in lines if b"via curl" in line)
        assert data.startswith(b"data: ")
        assert json.loads(data[6:])["notification"]["title"] == "via curl"
        assert any(line.startswith(b"event: welcome") for line in lines)
    finally:
        curl.terminate()
        await curl.wait()


async def test_last_event_id_resumes_and_since_wins(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    first = await _open(gateway, "user_id=dave")
    welcome = await first.event()
    seen = await _publish(gateway, users("dave"), title="seen")
    assert (await first.notification()).id == seen
    first.close()
    await until(lambda: len(gateway.service.hub) == 0)
    missed = [await _publish(gateway, users("dave"), title=f"missed {n}") for n in range(3)]
    resumed = await _open(gateway, "user_id=dave", f"Last-Event-ID: {seen}")
    hello = await resumed.event()
    assert hello.name == "welcome" and hello.id is None  # the browser keeps its own id
    state = await resumed.event()
    assert state.name == "resumed" and state.data["complete"] and state.data["replayed"] == 3
    assert [(await resumed.notification()).id for _ in range(3)] == missed
    resumed.close()
    # `since` wins over the header
    again = await _open(gateway, f"user_id=dave&since={welcome.id}", f"Last-Event-ID: {seen}")
    await again.event()
    assert (await again.event()).data["replayed"] == 4
    again.close()


@pytest.mark.parametrize(
    "header",
    ["Last-Event-ID: nope", "Last-Event-ID: " + "1" * 200, "Last-Event-ID: a b-1"],
)
async def test_a_bad_last_event_id_is_400_and_not_quoted_back(
    start_gateway: StartGateway, header: str, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = await start_gateway()
    caplog.set_level(logging.DEBUG)
    client = await _open(gateway, "user_id=erin", header)
    assert client.status == 400
    body = client.refusal()
    assert body["field"] == "last-event-id" and header.split(": ")[1] not in body["message"]
    assert len(gateway.service.hub) == 0
    assert_quiet(caplog)
    await _still_streams(gateway)


async def test_server_closes_end_with_a_close_event_carrying_the_code(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway()
    alice = await _open(gateway, "user_id=alice")
    await alice.event()
    assert await gateway.service.disconnect("alice", 4009, "logged out") == 1
    close = await alice.event()
    assert close.name == "close" and close.data == {
        "event": "close",
        "code": 4009,
        "reason": "logged out",
    }
    assert await alice.ended() == b""
    bob = await _open(gateway, "user_id=bob")
    await bob.event()
    await gateway.drain()
    assert (await bob.event()).data["code"] == 1001


async def test_ops_posted_for_a_stream_apply_in_order_on_it(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    client = await _open(gateway, "user_id=frank")
    stream = (await client.event()).data["stream"]
    url = f"http://127.0.0.1:{gateway.http_port}/sse/ops"
    ops = [{"op": "subscribe", "topic": "later"}, {"op": "ping"}, {"op": "subscribe"}]
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=json.dumps({"stream": stream, "ops": ops})) as reply:
            assert reply.status == 202 and await reply.json() == {"applied": 3}
        assert (await client.event()).data == {"event": "subscribed", "topic": "later"}
        assert (await client.event()).name == "pong"
        error = await client.event()
        assert error.name == "error" and error.data["field"] == "topic"
        await _publish(gateway, topic("later"), title="followed after connect")
        assert (await client.notification()).data["notification"]["title"] == (
            "followed after connect"
        )
        async with http.post(url, data=json.dumps({"stream": "nope", "ops": ops})) as reply:
            assert reply.status == 404 and (await reply.json())["error"] == "unknown_stream"
        async with http.post(url, data=b"{not json") as reply:
            assert reply.status == 400
        async with http.post(url, data=json.dumps({"stream": stream, "ops": []})) as reply:
            assert reply.status == 400 and (await reply.json())["field"] == "ops"
        big = json.dumps({"stream": stream, "ops": [{"op": "ping"}] * 64, "pad": "x" * 20_000})
        async with http.post(url, data=big) as reply:
            assert reply.status == 413
    assert gateway.service.metrics.sse_ops == 3


async def test_ten_bad_ops_close_the_stream_with_1008(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    client = await _open(gateway, "user_id=gina")
    stream = (await client.event()).data["stream"]
    url = f"http://127.0.0.1:{gateway.http_port}/sse/ops"
    async with aiohttp.ClientSession() as http:
        body = {"stream": stream, "ops": [{"op": "nope"}] * 10}
        async with http.post(url, data=json.dumps(body)) as reply:
            assert reply.status == 202
    for _ in range(10):
        assert (await client.event()).name == "error"
    assert (await client.event()).data["code"] == 1008


async def test_tokens_from_header_cookie_or_query(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    token = jwt.encode({"sub": "hana", "exp": int(time.time()) + 60}, SECRET, "HS256")
    for headers, query in [
        ((f"Authorization: Bearer {token}",), "user_id=hana"),
        ((f"Cookie: gateway_token={token}",), "user_id=hana"),
        ((), f"user_id=hana&token={token}"),
    ]:
        client = await _open(gateway, query, *headers)
        assert client.status == 200 and (await client.event()).name == "welcome"
        client.close()
    missing = await _open(gateway, "user_id=hana")
    assert missing.status == 401 and missing.refusal()["error"] == "unauthorized"
    other = await _open(gateway, "user_id=ivan", f"Cookie: gateway_token={token}")
    assert other.status == 403


async def test_a_token_expiry_closes_the_stream_with_4001(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    token = jwt.encode({"sub": "jo", "exp": time.time() + 1.2}, SECRET, "HS256")
    client = await _open(gateway, f"user_id=jo&token={token}")
    await client.event()
    close = await client.event(timeout=5)
    assert close.data["code"] == 4001


async def test_origin_allow_list_and_cors(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(allowed_origins="https://app.example")
    ok = await _open(gateway, "user_id=kim", "Origin: https://app.example")
    assert ok.status == 200
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    assert ok.headers["access-control-allow-credentials"] == "true"
    refused = await _open(gateway, "user_id=kim", "Origin: https://evil.example")
    assert refused.status == 403
    open_gateway = await start_gateway()
    anyone = await _open(open_gateway, "user_id=kim", "Origin: https://evil.example")
    assert anyone.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in anyone.headers


async def test_the_per_user_cap_counts_streams_and_sockets(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(max_connections_per_user=2)
    a = await _open(gateway, "user_id=lee")
    ws = await http.ws_connect(f"http://127.0.0.1:{gateway.http_port}/ws?user_id=lee")
    await until(lambda: len(gateway.service.hub) == 2)
    b = await _open(gateway, "user_id=lee")
    assert b.status == 429
    await ws.close()
    a.close()


async def test_keep_alive_comments_at_the_heartbeat(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(heartbeat_seconds=1.0)
    client = await _open(gateway, "user_id=max")
    await client.event()
    await client.nothing(within=2.5)
    assert "keep-alive" in client.comments
    assert len(gateway.service.hub) == 1  # silence is no reason to drop a stream


async def test_a_client_that_talks_after_its_head_is_dropped(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = await start_gateway()
    caplog.set_level(logging.DEBUG)
    client = await _open(gateway, "user_id=ned")
    await client.event()
    client.writer.write(b"x" * 10_000)
    assert b"x" not in await client.ended()
    await until(lambda: len(gateway.service.hub) == 0)
    assert_quiet(caplog)
    await _still_streams(gateway)


# hostile input on /sse (rows of docs/operations/hostile-input.md)


async def test_a_slowloris_on_sse_is_answered_408(
    start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ws_protocol, "HANDSHAKE_TIMEOUT", 0.3)
    gateway = await start_gateway()
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    writer.write(b"GET /sse?user_id=slow HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    answer = await asyncio.wait_for(reader.read(), 3)
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"request_timeout"' in answer
    assert len(gateway.service.hub) == 0
    assert_quiet(caplog)
    await _still_streams(gateway)


async def test_a_huge_query_on_sse_is_431(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = await start_gateway()
    caplog.set_level(logging.DEBUG)
    client = await _open(gateway, "user_id=big&topics=" + "t," * 10_000)
    assert client.status == 431 and client.refusal()["error"] == "header_too_large"
    assert_quiet(caplog)
    caplog.clear()
    many = await _open(gateway, "user_id=big&topics=" + ",".join(f"t{n}" for n in range(500)))
    assert many.status == 400 and many.refusal()["field"] == "topics"
    assert_quiet(caplog)
    await _still_streams(gateway)


async def test_a_stream_that_never_reads_is_closed_with_4008_and_others_get_everything(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    limit = 65_536
    gateway = await start_gateway(send_buffer_bytes=limit)
    caplog.set_level(logging.DEBUG)
    healthy = await _open(gateway, "user_id=healthy")
    await healthy.event()
    reader, writer = await small_window_socket(gateway.http_port)
    writer.write(b"GET /sse?user_id=stalled HTTP/1.1\r\nHost: x\r\n\r\n")
    writer.transport.pause_reading()  # and it never reads
    await until(lambda: len(gateway.service.hub) == 2)
    (stalled,) = [s for s in gateway.sse.streams.values() if s.conn and s.conn.user_id == "stalled"]
    stalled_reads = read_once_closed(gateway, reader, writer)
    stub = await _stub(gateway)
    total = 0
    held = 0  # the most the server held unsent for the stalled stream, seen after each flush
    for _ in range(40):  # ~8 MB: far past what the kernels buffer for the stalled one
        batch = pb.PublishBatchRequest(
            requests=[request(everyone(), "bulk.item", body="x" * 900) for _ in range(200)]
        )
        await stub.PublishBatch(batch)
        total += 200
        with contextlib.suppress(TimeoutError):
            while True:
                await healthy.notification(timeout=0.05)
                total -= 1
        held = max(held, stalled.buffered())
    while total > 0:
        await healthy.notification()
        total -= 1
    await until(lambda: gateway.service.metrics.slow_clients_closed == 1)
    presence, _ = await gateway.service.presence(["healthy", "stalled"], None)
    assert presence == {"healthy": 1, "stalled": 0}
    # Bounded memory: the limit plus one flush unsent (~245 KB here, a batch of 200 ~1 KB
    # events), of the ~8 MB published; room for a few batches in one flush on a loaded
    # machine. Once it reads, its last event says why it was dropped.
    assert held <= limit + 4 * 200 * 1_200, held
    got = await asyncio.wait_for(stalled_reads, 10)
    assert got.endswith(
        b'event: close\ndata: {"event":"close","code":4008,'
        b'"reason":"too slow: send buffer overflow"}\n\n'
    ), got[-200:]
    assert_quiet(caplog)  # the one warning: "closing a slow client"
    writer.transport.abort()
