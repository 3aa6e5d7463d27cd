"""The Python Subscriber over SSE (`transport="sse"`): the same rules as over WebSocket."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.api.v1 import gateway_pb2 as pb
from gateway.app import Gateway
from gateway.client import Notification, Subscriber, SubscriberRefused, SubscriberStopped
from tests.support.gateway import StartGateway
from tests.support.netproxy import TcpProxy
from tests.support.subscriber import States, grpc_stub, next_item, publish_one, ws_url
from tests.support.tokens import SECRET, token


async def test_receives_and_follows_topics_over_sse(gateway: Gateway) -> None:
    events: list[dict[str, object]] = []
    async with Subscriber(
        ws_url(gateway.http_port), "alice", ["news"], on_event=events.append, transport="sse"
    ) as sub:
        reading = asyncio.create_task(next_item(sub))
        await asyncio.sleep(0.3)
        cursor = await publish_one(gateway, users=["alice"], type="order.shipped", data={"n": 1})
        first = await reading
        assert isinstance(first, Notification) and (first.cursor, first.data) == (cursor, {"n": 1})
        assert gateway.sse.streams and not gateway.edge.connections  # over SSE, not /ws
        await sub.subscribe("sport")  # posted to /sse/ops; `subscribed` comes on the stream
        reading = asyncio.create_task(next_item(sub))
        await asyncio.sleep(0.3)
        await publish_one(gateway, topic="sport", type="goal")
        assert (await reading).type == "goal"  # type: ignore[union-attr]
        await sub.unsubscribe("news")
        await publish_one(gateway, topic="news", type="unheard")
        await publish_one(gateway, everyone=True, type="to.all")
        assert (await next_item(sub)).type == "to.all"  # type: ignore[union-attr]
    assert [e["event"] for e in events] == ["welcome", "subscribed", "unsubscribed"]


async def test_resumes_over_sse_after_the_line_breaks(gateway: Gateway, proxy: TcpProxy) -> None:
    states = States()
    sub = Subscriber(
        ws_url(proxy.port), "alice", backoff_base=0.1, on_state=states, transport="sse"
    )
    async with sub:
        first = asyncio.create_task(next_item(sub))
        await states.wait("connected")
        await publish_one(gateway, users=["alice"], type="before.drop")
        assert (await first).type == "before.drop"  # type: ignore[union-attr]
        proxy.cut()  # the stream ends without a close event: a broken line
        missed = await publish_one(gateway, users=["alice"], type="missed")
        assert (await next_item(sub)).cursor == missed  # type: ignore[union-attr]
        assert proxy.connections == 2


@pytest.mark.parametrize(("code", "stops"), [(4009, True), (4008, False)])
async def test_close_events_follow_the_close_code_policy(
    gateway: Gateway, code: int, stops: bool
) -> None:
    states = States()
    sub = Subscriber(
        ws_url(gateway.http_port), "alice", backoff_base=0.1, on_state=states, transport="sse"
    )
    async with sub:
        reading = asyncio.create_task(next_item(sub))
        await states.wait("connected")
        async with grpc_stub(gateway) as stub:
            await stub.Disconnect(pb.DisconnectRequest(user_id="alice", code=code, reason="t"))
        if stops:
            with pytest.raises(SubscriberStopped) as stopped:
                await reading
            assert stopped.value.code == code
            return
        await states.wait("connected", after=2)
        cursor = await publish_one(gateway, users=["alice"], type="back")
        assert (await reading).cursor == cursor  # type: ignore[union-attr]


async def test_the_token_goes_in_the_header_and_is_refreshed_over_sse(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    issued: list[str] = []
    events: list[dict[str, object]] = []

    def get_token() -> str:
        issued.append(token("alice", ttl=3))
        return issued[-1]

    states = States()
    async with Subscriber(
        ws_url(gateway.http_port),
        "alice",
        get_token=get_token,
        on_state=states,
        on_event=events.append,
        transport="sse",
    ) as sub:
        reading = asyncio.create_task(next_item(sub, 10))
        await asyncio.sleep(5)  # two token lifetimes: refreshed by posted ops, no 4001
        cursor = await publish_one(gateway, users=["alice"], type="still.here")
        assert (await reading).cursor == cursor  # type: ignore[union-attr]
    assert [s.state for s in states] == ["connecting", "connected", "closed"]
    assert len([e for e in events if e["event"] == "refreshed"]) >= 2
    bad = Subscriber(
        ws_url(gateway.http_port), "alice", token=token("bob", ttl=60), transport="sse"
    )
    with pytest.raises(SubscriberRefused) as refused:
        await next_item(bad)
    assert refused.value.status == 403 and json.loads(refused.value.body)["error"] == "forbidden"
    await bad.close()
