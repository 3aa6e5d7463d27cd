"""SSE streams on several gateways sharing one Redis: the same guarantees as WebSocket."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import aiohttp
from grpc import aio

from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from tests.support.helpers import request, topic, users
from tests.support.sse import SseClient
from tests.support.waiting import until


async def test_a_stream_resumes_completely_by_last_event_id_after_its_gateway_restarts(
    on_redis: Callable[..., Awaitable[Gateway]],
) -> None:
    a, b = await on_redis(), await on_redis()
    async with aio.insecure_channel(f"127.0.0.1:{b.grpc_port}") as channel:
        publish = pb_grpc.NotificationGatewayStub(channel).Publish
        stream = await SseClient.open(a.http_port, "/sse?user_id=alice")
        await stream.event()  # welcome
        seen = await publish(request(users("alice"), "seen"))
        last = await stream.notification()
        assert last.id == seen.cursor  # what a browser sends back as Last-Event-ID
        await a.drain()  # the gateway restarts: the stream ends with `close` 1001
        assert (await stream.event()).data["code"] == 1001
        missed = [(await publish(request(users("alice"), f"m{n}"))).cursor for n in range(2)]
        c = await on_redis()
        back = await SseClient.open(c.http_port, "/sse?user_id=alice", f"Last-Event-ID: {last.id}")
        await back.event()
        resumed = await back.event()
        assert resumed.data["complete"] is True and resumed.data["replayed"] == 2
        assert [(await back.notification()).id for _ in range(2)] == missed


async def test_presence_and_disconnect_count_streams_on_every_replica(
    on_redis: Callable[..., Awaitable[Gateway]],
) -> None:
    a, b = await on_redis(), await on_redis()
    stream = await SseClient.open(a.http_port, "/sse?user_id=bob")
    await stream.event()
    presence, total = await b.service.presence(["bob"], None)
    assert presence == {"bob": 1} and total == 1
    assert await b.service.disconnect("bob", 4009, "logged out") == 1  # asks replica a
    close = await stream.event()
    assert close.name == "close" and close.data["code"] == 4009
    await until(lambda: len(a.service.hub) == 0)
    assert (await b.service.presence(["bob"], None))[0] == {"bob": 0}


async def test_a_topic_followed_after_connect_reaches_the_stream_from_another_replica(
    on_redis: Callable[..., Awaitable[Gateway]],
) -> None:
    """Interest routing (issue 15) for a stream: a topic posted as an op is watched on
    Redis before `subscribed` is sent, so what another replica publishes next arrives."""
    a, b = await on_redis(), await on_redis()
    stream = await SseClient.open(a.http_port, "/sse?user_id=carl")
    stream_id = (await stream.event()).data["stream"]
    body = json.dumps({"stream": stream_id, "ops": [{"op": "subscribe", "topic": "late"}]})
    ops = f"http://127.0.0.1:{a.http_port}/sse/ops"
    async with aiohttp.ClientSession() as http, http.post(ops, data=body) as reply:
        assert reply.status == 202
    assert (await stream.event()).data == {"event": "subscribed", "topic": "late"}
    async with aio.insecure_channel(f"127.0.0.1:{b.grpc_port}") as channel:
        publish = pb_grpc.NotificationGatewayStub(channel).Publish
        sent = await publish(request(topic("late"), "followed"))
    assert (await stream.notification()).id == sent.cursor
