"""The WebSocket side: refusals before the upgrade, client ops, errors and close codes."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from gateway.app import Gateway
from tests.support.gateway import Connect, StartGateway
from tests.support.helpers import request, users


async def _refused(
    http: aiohttp.ClientSession, port: int, query: str, **kw: object
) -> tuple[int, dict]:
    with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
        await http.ws_connect(f"http://127.0.0.1:{port}/ws?{query}", **kw)  # type: ignore[arg-type]
    async with http.get(f"http://127.0.0.1:{port}/ws?{query}", **kw) as plain:  # type: ignore[arg-type]
        body = await plain.json()
        assert plain.status == failure.value.status
    return failure.value.status, body


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [
        ("", "user_id", "required"),
        ("user_id=", "user_id", "at least 1 character"),
        ("user_id=a%20b", "user_id", "should match pattern"),
        ("user_id=a%00b", "user_id", "should match pattern"),
        ("user_id=" + "x" * 129, "user_id", "at most 128"),
        ("user_id=a&user_id=b", "user_id", "given more than once"),
        ("user_id=a&topics=ok,bad%20one", "topics[1]", "should match pattern"),
        ("user_id=a&topics=" + ",".join(f"t{i}" for i in range(65)), "topics", "at most 64"),
        ("user_id=a&since=garbage", "since", "not a cursor"),
    ],
)
async def test_bad_connect_is_refused_before_upgrade(
    gateway: Gateway, http: aiohttp.ClientSession, query: str, field: str, rule: str
) -> None:
    status, body = await _refused(http, gateway.http_port, query)
    assert status == 400
    assert body["error"] == "invalid_request"
    assert body["field"] == field
    assert rule in body["message"]


async def test_plain_get_without_upgrade_is_426(gateway: Gateway, http) -> None:
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/ws?user_id=alice") as response:
        assert response.status == 426
        assert (await response.json())["error"] == "upgrade_required"


async def test_broken_handshake_is_400_with_a_reason(gateway: Gateway, http) -> None:
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "not-a-valid-key",
    }
    url = f"http://127.0.0.1:{gateway.http_port}/ws?user_id=alice"
    async with http.get(url, headers=headers) as response:
        assert response.status == 400
        body = await response.json()
        assert body == {
            "error": "bad_handshake",
            "message": "Sec-WebSocket-Key must be 16 bytes in base64, got 'not-a-valid-key'",
        }


async def test_welcome_names_user_topics_and_cursor(connect: Connect) -> None:
    client = await connect("alice", topics="b,a,b", welcome=False)
    welcome = await client.event()
    assert welcome["event"] == "welcome"
    assert welcome["user_id"] == "alice"
    assert welcome["topics"] == ["a", "b"]
    assert welcome["cursor"]


@pytest.mark.parametrize(
    ("frame", "field", "text"),
    [
        ("not json", "frame", "not JSON"),
        ("[1, 2]", "frame", "JSON object"),
        ('{"topic": "x"}', "op", "missing"),
        ('{"op": "dance"}', "op", "unknown op 'dance'"),
        ('{"op": "subscribe"}', "topic", "required"),
        ('{"op": "subscribe", "topic": "a b"}', "topic", "should match pattern"),
        ('{"op": "subscribe", "topic": "x", "extra": 1}', "extra", "Extra inputs"),
    ],
)
async def test_bad_client_frame_gets_an_error_event(
    connect: Connect, frame: str, field: str, text: str
) -> None:
    client = await connect("alice")
    await client.send(frame)
    error = await client.event()
    assert error["event"] == "error"
    assert error["code"] == "bad_frame"
    assert error["field"] == field
    assert text in error["message"]
    await client.send({"op": "ping"})  # still served afterwards
    assert await client.event() == {"event": "pong"}


async def test_binary_frame_is_an_error(connect: Connect) -> None:
    client = await connect("alice")
    await client.ws.send_bytes(b"\x00\x01")
    error = await client.event()
    assert error["event"] == "error" and "binary" in error["message"]


async def test_repeated_bad_frames_close_with_1008(connect: Connect, stub) -> None:
    abuser = await connect("mallory")
    neighbour = await connect("alice")
    for _ in range(10):
        await abuser.send("garbage")
    for _ in range(10):
        assert (await abuser.event())["event"] == "error"
    assert await abuser.closed() == 1008
    await stub.Publish(request(users("alice"), "still.fine"))
    assert (await neighbour.notification())["notification"]["type"] == "still.fine"


async def test_oversized_client_frame_closes_with_1009(connect: Connect) -> None:
    client = await connect("alice")
    await client.send("x" * 20_000)
    assert await client.closed() == 1009


async def test_topic_limit_per_connection_for_ops(start_gateway: StartGateway, http) -> None:
    gateway = await start_gateway(max_topics_per_connection=2)
    ws = await http.ws_connect(
        f"http://127.0.0.1:{gateway.http_port}/ws", params={"user_id": "a", "topics": "t1"}
    )
    await ws.receive_json()  # welcome
    await ws.send_json({"op": "subscribe", "topic": "t2"})
    assert await ws.receive_json() == {"event": "subscribed", "topic": "t2"}
    await ws.send_json({"op": "subscribe", "topic": "t2"})  # already followed: still fine
    assert await ws.receive_json() == {"event": "subscribed", "topic": "t2"}
    await ws.send_json({"op": "subscribe", "topic": "t3"})
    error = await ws.receive_json()
    assert error["event"] == "error" and error["code"] == "too_many_topics"
    await ws.close()


async def test_connection_limits_are_refused_before_upgrade(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(max_connections_per_user=2, max_connections=3)
    url = f"http://127.0.0.1:{gateway.http_port}/ws"
    held = [await http.ws_connect(url, params={"user_id": "alice"}) for _ in range(2)]
    status, body = await _refused(http, gateway.http_port, "user_id=alice")
    assert status == 429 and body["error"] == "too_many_connections"
    held.append(await http.ws_connect(url, params={"user_id": "bob"}))
    status, body = await _refused(http, gateway.http_port, "user_id=carol")
    assert status == 503 and body["error"] == "unavailable"
    await held[0].close()
    for _ in range(50):  # the server notices the close on its next read
        if len(gateway.service.hub) < 3:
            break
        await asyncio.sleep(0.02)
    held.append(await http.ws_connect(url, params={"user_id": "carol"}))
    for ws in held:
        await ws.close()


async def test_health_and_readiness(gateway: Gateway, http) -> None:
    base = f"http://127.0.0.1:{gateway.http_port}"
    async with http.get(f"{base}/healthz") as response:
        assert response.status == 200
    async with http.get(f"{base}/readyz") as response:
        assert response.status == 200


async def test_metrics_count_what_happened(gateway: Gateway, stub, connect: Connect, http) -> None:
    client = await connect("alice")
    await stub.Publish(request(users("alice"), "m.one", id="m1"))
    await stub.Publish(request(users("alice"), "m.one", id="m1"))
    await client.send("garbage")
    await client.event()
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/ws") as refused:
        assert refused.status == 400
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/metrics") as response:
        text = await response.text()
    for line in [
        "gateway_published_total 1.0",
        "gateway_duplicates_total 1.0",
        "gateway_delivered_total 1.0",
        "gateway_bad_client_frames_total 1.0",
        'gateway_connections_refused_total{status="400"} 1.0',
        "gateway_connections 1.0",
        "gateway_ready 1.0",
    ]:
        assert line in text.splitlines(), line
