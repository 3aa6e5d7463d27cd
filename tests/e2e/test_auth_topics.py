"""With JWT on: the `topics` claim limits what a user may follow; `refresh` renews a token.

Real gateway, real aiohttp clients, tokens minted with PyJWT, publishes over real gRPC.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pydantic
import pytest
from grpc import aio

from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from gateway.config import Settings
from tests.support.gateway import Client, StartGateway
from tests.support.helpers import request, topic
from tests.support.tokens import SECRET, token

V1 = "notifications.v1"


class Browser:
    """Opens sockets on one gateway the way a browser does: token in the subprotocol."""

    def __init__(self, gateway: Gateway, http: aiohttp.ClientSession) -> None:
        self.url = f"http://127.0.0.1:{gateway.http_port}/ws"
        self.http = http

    async def open(self, user_id: str, jwt_: str, **params: str) -> Client:
        ws = await self.http.ws_connect(
            self.url, params={"user_id": user_id, **params}, protocols=(V1, "bearer." + jwt_)
        )
        client = Client(ws)
        assert (await client.event())["event"] == "welcome"
        return client

    async def refused(self, user_id: str, jwt_: str, **params: str) -> tuple[int, dict[str, Any]]:
        """The status and JSON body of a refused connect (same request as a plain GET)."""
        headers = {"Sec-WebSocket-Protocol": f"{V1}, bearer.{jwt_}"}
        query = {"user_id": user_id, **params}
        async with self.http.get(self.url, params=query, headers=headers) as response:
            body: dict[str, Any] = await response.json()
            return response.status, body


@pytest.fixture
async def publish(start_gateway: StartGateway) -> AsyncIterator[Any]:
    channels: list[aio.Channel] = []

    async def send(gateway: Gateway, name: str) -> str:
        channel = aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}")
        channels.append(channel)
        response = await pb_grpc.NotificationGatewayStub(channel).Publish(request(topic(name)))
        return str(response.cursor)

    yield send
    for channel in channels:
        await channel.close()


async def test_topics_claim_at_connect(start_gateway: StartGateway, http) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    browser = Browser(gateway, http)
    claim = token("alice", topics=["news", "orders.*"])
    client = await browser.open("alice", claim, topics="news,orders.7")
    await client.ws.close()
    status, body = await browser.refused("alice", claim, topics="news,sports,orders.8")
    assert status == 403
    assert body == {
        "error": "forbidden_topic",
        "message": "topic 'sports' is not in the token's topics claim",
        "field": "topics",
    }
    assert (await browser.refused("alice", claim, topics="orders"))[0] == 403


async def test_subscribe_beyond_the_claim_is_an_error_event(
    start_gateway: StartGateway, http, publish
) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    client = await Browser(gateway, http).open("alice", token("alice", topics=["orders.*"]))
    await client.send({"op": "subscribe", "topic": "sports"})
    assert await client.event() == {
        "event": "error",
        "code": "forbidden_topic",
        "field": "topic",
        "message": "topic 'sports' is not in the token's topics claim",
    }
    await client.send({"op": "subscribe", "topic": "orders.9"})
    assert await client.event() == {"event": "subscribed", "topic": "orders.9"}
    await publish(gateway, "sports")
    cursor = await publish(gateway, "orders.9")
    assert (await client.notification())["cursor"] == cursor  # and sports never came


async def test_without_the_claim_any_topic_by_default(start_gateway: StartGateway, http) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    client = await Browser(gateway, http).open("alice", token("alice"), topics="anything")
    await client.send({"op": "subscribe", "topic": "whatever"})
    assert (await client.event())["event"] == "subscribed"


async def test_topics_required_refuses_tokens_without_the_claim(
    start_gateway: StartGateway, http
) -> None:
    gateway = await start_gateway(jwt_secret=SECRET, jwt_topics_required=True)
    browser = Browser(gateway, http)
    status, body = await browser.refused("alice", token("alice"))
    assert status == 401
    assert body["message"] == "invalid token: no topics claim, and this gateway requires one"
    client = await browser.open("alice", token("alice", topics=[]))  # no topics, still served
    await client.send({"op": "subscribe", "topic": "news"})
    assert (await client.event())["code"] == "forbidden_topic"


def test_topics_required_needs_a_jwt_key() -> None:
    with pytest.raises(pydantic.ValidationError, match="jwt_topics_required needs a JWT key"):
        Settings(jwt_topics_required=True)


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        ("news", "the topics claim must be a list of strings"),
        (["news", 3], "the topics claim must be a list of strings"),
        (["orders.*.created"], "topics claim entry 'orders.*.created'"),
    ],
)
async def test_a_malformed_claim_is_401(
    start_gateway: StartGateway, http, claim: object, message: str
) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    status, body = await Browser(gateway, http).refused("alice", token("alice", topics=claim))
    assert status == 401
    assert body["error"] == "unauthorized" and message in body["message"]


async def test_refresh_moves_the_expiry(start_gateway: StartGateway, http, publish) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    client = await Browser(gateway, http).open("alice", token("alice", ttl=1.5), topics="n")
    fresh = token("alice", ttl=60)
    await client.send({"op": "refresh", "token": fresh})
    expires_at = jwt.decode(fresh, SECRET, algorithms=["HS256"])["exp"]
    assert await client.event() == {"event": "refreshed", "expires_at": expires_at}
    await client.nothing(within=2.0)  # past the first token's exp: no 4001
    cursor = await publish(gateway, "n")
    assert (await client.notification())["cursor"] == cursor
    await client.send({"op": "refresh", "token": token("alice", ttl=1)})  # earlier: moves too
    assert (await client.event())["event"] == "refreshed"
    assert await client.closed(timeout=3) == 4001


async def test_a_bad_refresh_keeps_the_old_expiry(start_gateway: StartGateway, http) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    started = time.monotonic()
    client = await Browser(gateway, http).open("alice", token("alice", ttl=2))
    forged = jwt.encode({"sub": "alice", "exp": time.time() + 60}, "x" * 40, algorithm="HS256")
    for bad, says in [
        (token("bob"), "another user"),
        (token("alice", ttl=-5), "expired"),
        (forged, "invalid token"),
        ("", "a token is required"),
        (token("alice", topics="news"), "topics claim"),
    ]:
        await client.send({"op": "refresh", "token": bad})
        error = await client.event()
        assert (error["event"], error["code"], error["field"]) == ("error", "bad_token", "token")
        assert says in error["message"]
    assert await client.closed(timeout=4) == 4001
    assert time.monotonic() - started < 3.5


async def test_refresh_with_a_narrower_claim_drops_topics(
    start_gateway: StartGateway, http, publish
) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    browser = Browser(gateway, http)
    client = await browser.open("alice", token("alice", topics=["a", "b.*"]), topics="a,b.1,b.2")
    await client.send({"op": "refresh", "token": token("alice", topics=["a", "b.2"])})
    assert await client.event() == {"event": "unsubscribed", "topic": "b.1"}
    assert (await client.event())["event"] == "refreshed"
    await publish(gateway, "b.1")
    cursor = await publish(gateway, "b.2")
    assert (await client.notification())["cursor"] == cursor
    await client.send({"op": "subscribe", "topic": "b.3"})
    assert (await client.event())["code"] == "forbidden_topic"
    await client.send({"op": "refresh", "token": token("alice")})  # no claim: any topic
    assert (await client.event())["event"] == "refreshed"
    await client.send({"op": "subscribe", "topic": "b.3"})
    assert await client.event() == {"event": "subscribed", "topic": "b.3"}


async def test_refresh_without_jwt_is_auth_disabled_and_harmless(
    start_gateway: StartGateway, http
) -> None:
    gateway = await start_gateway()
    ws = await http.ws_connect(f"http://127.0.0.1:{gateway.http_port}/ws?user_id=a")
    client = Client(ws)
    assert (await client.event())["event"] == "welcome"
    for _ in range(12):  # more than the 10 bad frames that close with 1008
        await client.send({"op": "refresh", "token": "t"})
        error = await client.event()
        assert (error["code"], error["field"]) == ("auth_disabled", "op")
    await client.send({"op": "ping"})
    assert await client.event() == {"event": "pong"}
    await ws.close()
