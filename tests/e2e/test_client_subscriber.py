"""Subscriber against real gateways: resume, resync, topics, liveness, close-code policy."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from gateway.api.v1 import gateway_pb2 as pb
from gateway.app import Gateway
from gateway.client import (
    AsyncPublisher,
    Notification,
    Resync,
    StateChange,
    Subscriber,
    SubscriberRefused,
    SubscriberStopped,
)
from tests.support.gateway import StartGateway
from tests.support.helpers import free_port
from tests.support.netproxy import TcpProxy
from tests.support.subscriber import States, grpc_stub, next_item, publish_one, ws_url
from tests.support.tokens import SECRET, token
from tests.support.waiting import until


async def test_receives_typed_notifications_and_follows_topics(gateway: Gateway) -> None:
    events: list[dict[str, object]] = []
    async with Subscriber(
        ws_url(gateway.http_port), "alice", ["news"], on_event=events.append
    ) as sub:
        to_alice = asyncio.create_task(next_item(sub))
        await asyncio.sleep(0.2)  # connected and waiting
        cursor = await publish_one(gateway, users=["alice"], type="order.shipped", data={"n": 1})
        first = await to_alice
        assert isinstance(first, Notification)
        assert (first.cursor, first.type, first.data) == (cursor, "order.shipped", {"n": 1})
        assert sub.state == "connected" and sub.cursor == cursor
        await sub.subscribe("sport")
        await asyncio.sleep(0.1)
        await publish_one(gateway, topic="sport", type="goal")
        await publish_one(gateway, topic="news", type="flash")
        types = [(await next_item(sub)).type for _ in range(2)]  # type: ignore[union-attr]
        assert types == ["goal", "flash"]
        await sub.unsubscribe("news")
        await asyncio.sleep(0.1)
        await publish_one(gateway, topic="news", type="unheard")
        await publish_one(gateway, everyone=True, type="to.all")
        last = await next_item(sub)
        assert isinstance(last, Notification) and last.type == "to.all"
    assert [e["event"] for e in events] == ["welcome", "subscribed", "unsubscribed"]
    assert sub.state == "closed"


async def test_resumes_after_a_drop_with_since_and_late_topics(
    gateway: Gateway, proxy: TcpProxy
) -> None:
    states = States()
    sub = Subscriber(ws_url(proxy.port), "alice", backoff_base=0.1, on_state=states)
    async with sub:
        first_read = asyncio.create_task(next_item(sub))
        await states.wait("connected")
        await sub.subscribe("late")
        await asyncio.sleep(0.1)
        await publish_one(gateway, users=["alice"], type="before.drop")
        assert (await first_read).type == "before.drop"  # type: ignore[union-attr]
        proxy.cut()  # TCP gone, no close frame: 1006
        missed = [
            await publish_one(gateway, users=["alice"], type="missed.user"),
            await publish_one(gateway, topic="late", type="missed.topic"),
        ]
        got = [await next_item(sub) for _ in range(2)]
        assert [g.cursor for g in got if isinstance(g, Notification)] == missed
        assert proxy.connections == 2
        assert [s.state for s in states] == [
            "connecting",
            "connected",
            "disconnected",
            "connecting",
            "connected",
        ]
        live = await publish_one(gateway, topic="late", type="live")
        assert (await next_item(sub)).cursor == live  # type: ignore[union-attr]


async def test_gateway_restart_yields_resync_then_what_the_new_one_has(
    start_gateway: StartGateway,
) -> None:
    http_port, grpc_port = free_port(), free_port()
    first = await start_gateway(http_port=http_port, grpc_port=grpc_port)
    states = States()
    async with Subscriber(ws_url(http_port), "alice", backoff_base=0.2, on_state=states) as sub:
        reading = asyncio.create_task(next_item(sub))
        await states.wait("connected")
        await publish_one(first, users=["alice"], type="before.restart")
        assert (await reading).type == "before.restart"  # type: ignore[union-attr]
        await first.drain()
        second = await start_gateway(http_port=http_port, grpc_port=grpc_port)
        after = await publish_one(second, users=["alice"], type="after.restart")
        resync = await next_item(sub, 10)
        assert isinstance(resync, Resync)
        notification = await next_item(sub)
        assert isinstance(notification, Notification) and notification.cursor == after
        assert any(s.state == "disconnected" and s.code == 1001 for s in states)
        # the resync moved the resume point to the new log: a later drop resumes complete
        assert sub.cursor == after


async def test_liveness_ping_drops_a_silent_link(gateway: Gateway, proxy: TcpProxy) -> None:
    states = States()
    sub = Subscriber(
        ws_url(proxy.port),
        "alice",
        backoff_base=0.1,
        ping_after=0.3,
        pong_timeout=1.0,
        on_state=states,
    )
    async with sub:
        reading = asyncio.create_task(next_item(sub, 15))
        await states.wait("connected")
        await asyncio.sleep(1.0)  # pings answered by pongs keep it up
        assert proxy.connections == 1
        proxy.freeze()
        started = time.monotonic()
        await states.wait("disconnected")
        assert time.monotonic() - started < 4  # 0.3 s silent + 1 s without a pong, and load
        await states.wait("connected", after=2)
        cursor = await publish_one(gateway, users=["alice"], type="after.freeze")
        assert (await reading).cursor == cursor  # type: ignore[union-attr]
        assert proxy.connections == 2


@pytest.mark.parametrize(
    ("code", "stops"),
    [(4009, True), (1000, True), (4008, False), (4010, False), (4001, False)],
)
async def test_close_code_policy(gateway: Gateway, stub, code: int, stops: bool) -> None:
    states = States()
    sub = Subscriber(ws_url(gateway.http_port), "alice", backoff_base=0.1, on_state=states)
    async with sub, AsyncPublisher(f"127.0.0.1:{gateway.grpc_port}") as pub:
        reading = asyncio.create_task(next_item(sub))
        await states.wait("connected")
        # the Disconnect RPC closes with any of 1000 and 4000-4999
        await stub.Disconnect(pb.DisconnectRequest(user_id="alice", code=code, reason="test"))
        if stops:
            with pytest.raises(SubscriberStopped) as stopped:
                await reading
            assert stopped.value.code == code and stopped.value.reason == "test"
            assert sub.state == "closed"
            return
        await states.wait("connected", after=2)
        cursor = (await pub.publish(users=["alice"], type="back")).cursor
        assert (await reading).cursor == cursor  # type: ignore[union-attr]
        assert states[2] == StateChange("disconnected", code, "test", states[2].retry_in)


async def test_protocol_abuse_close_stops(gateway: Gateway) -> None:
    states = States()
    sub = Subscriber(ws_url(gateway.http_port), "alice", on_state=states)
    async with sub:
        reading = asyncio.create_task(next_item(sub))
        await states.wait("connected")
        for _ in range(10):  # a client bug (the API cannot make one): unknown ops
            await sub._send_op({"op": "dance"})
        with pytest.raises(SubscriberStopped) as stopped:
            await reading
        assert stopped.value.code == 1008


async def test_the_token_is_refreshed_on_the_open_socket(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    issued: list[str] = []
    events: list[dict[str, object]] = []

    async def get_token() -> str:  # called before every connect and before expiry
        issued.append(token("alice", ttl=3))
        return issued[-1]

    states = States()
    async with Subscriber(
        ws_url(gateway.http_port),
        "alice",
        get_token=get_token,
        on_state=states,
        on_event=events.append,
    ) as sub:
        reading = asyncio.create_task(next_item(sub, 10))
        await asyncio.sleep(5)  # more than the lifetimes of two tokens
        cursor = await publish_one(gateway, users=["alice"], type="still.here")
        assert (await reading).cursor == cursor  # type: ignore[union-attr]
    assert [s.state for s in states] == ["connecting", "connected", "closed"]  # no 4001
    refreshed = [e for e in events if e["event"] == "refreshed"]
    assert len(refreshed) >= 2 and len(issued) == len(refreshed) + 1


async def test_4001_reconnects_with_a_fresh_token_and_refusals_stop(
    start_gateway: StartGateway, http
) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    issued: list[str] = []

    def get_token() -> str:
        issued.append(token("alice", ttl=60))
        return issued[-1]

    states = States()
    async with (
        Subscriber(
            ws_url(gateway.http_port),
            "alice",
            get_token=get_token,
            backoff_base=0.1,
            on_state=states,
        ) as sub,
        AsyncPublisher(f"127.0.0.1:{gateway.grpc_port}") as pub,
    ):
        reading = asyncio.create_task(next_item(sub, 10))
        await states.wait("connected")
        async with grpc_stub(gateway) as stub:  # what the gateway sends at expiry
            await stub.Disconnect(pb.DisconnectRequest(user_id="alice", code=4001))
        await states.wait("disconnected", code=4001)
        await states.wait("connected", after=3)
        assert len(issued) == 2
        cursor = (await pub.publish(users=["alice"], type="after.refresh")).cursor
        assert (await reading).cursor == cursor  # type: ignore[union-attr]

    bad = Subscriber(ws_url(gateway.http_port), "alice", token=token("bob", ttl=60))
    with pytest.raises(SubscriberRefused) as refused:
        await next_item(bad)
    assert refused.value.status == 403 and "another user" in refused.value.body
    await bad.close()
    expired = Subscriber(ws_url(gateway.http_port), "alice", token=token("alice", ttl=-5))
    with pytest.raises(SubscriberRefused) as refused:
        await next_item(expired)
    assert refused.value.status == 401
    await expired.close()


async def test_a_bad_request_is_refused_not_retried(gateway: Gateway) -> None:
    sub = Subscriber(ws_url(gateway.http_port), "bad user")
    with pytest.raises(SubscriberRefused) as refused:
        await next_item(sub)
    assert refused.value.status == 400
    assert json.loads(refused.value.body)["field"] == "user_id"
    await sub.close()


async def test_a_request_head_over_the_limit_is_refused_not_retried(gateway: Gateway) -> None:
    """Before: 431 was retried with backoff forever, though the same head comes each time."""
    sub = Subscriber(ws_url(gateway.http_port), "alice", token="x" * 20_000)
    with pytest.raises(SubscriberRefused) as refused:
        await next_item(sub)
    assert refused.value.status == 431
    await sub.close()


async def test_a_refusal_on_an_http_url_still_carries_its_reason(gateway: Gateway) -> None:
    """Before: the reason was fetched from the URL with its first "ws" made "http", so
    http://host/ws became http://host/http (a 404) and the reason was lost."""
    sub = Subscriber(f"http://127.0.0.1:{gateway.http_port}/ws", "bad user")
    with pytest.raises(SubscriberRefused) as refused:
        await next_item(sub)
    assert json.loads(refused.value.body)["field"] == "user_id"
    await sub.close()


@pytest.mark.parametrize(
    "url", ["notaurl", "ws://[::1/ws", "ftp://h/ws", "ws:///ws", "ws://h:x/ws"]
)
def test_a_malformed_url_is_a_value_error_not_endless_retries(url: str) -> None:
    with pytest.raises(ValueError, match="url must be ws://, wss://, http:// or https://"):
        Subscriber(url, "alice")


async def test_a_connect_that_hangs_is_timed_out_and_retried() -> None:
    with socket.socket() as silent:  # accepts TCP connections (the kernel does) and says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        states = States()
        sub = Subscriber(
            ws_url(silent.getsockname()[1]),
            "alice",
            backoff_base=0.05,
            connect_timeout=0.3,
            on_state=states,
        )
        reading = asyncio.create_task(next_item(sub, 10))
        await states.wait("disconnected")
        await states.wait("connecting", after=2)  # and tries again
        await sub.close()
        with pytest.raises(StopAsyncIteration):
            await reading


async def test_close_from_another_task_ends_iteration(gateway: Gateway) -> None:
    sub = Subscriber(ws_url(gateway.http_port), "alice")
    seen: list[object] = []

    async def consume() -> None:
        async for item in sub:
            seen.append(item)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    await sub.close()
    await asyncio.wait_for(consumer, 3)
    assert seen == [] and sub.state == "closed"


async def test_a_replayed_notification_already_seen_is_skipped(
    gateway: Gateway, proxy: TcpProxy
) -> None:
    states = States()
    async with Subscriber(ws_url(proxy.port), "alice", backoff_base=0.1, on_state=states) as sub:
        reading = asyncio.create_task(next_item(sub))
        await states.wait("connected")
        seen = await publish_one(gateway, users=["alice"], type="seen.once")
        assert (await reading).cursor == seen  # type: ignore[union-attr]
        # e.g. a cursor the app restored from storage: the gateway replays all it has
        sub.cursor = "1-0"
        proxy.cut()
        resync = await next_item(sub)
        assert resync == Resync("1-0", 1)  # the one replayed is `seen`, skipped as a repeat
        live = await publish_one(gateway, users=["alice"], type="live")
        assert (await next_item(sub)).cursor == live  # type: ignore[union-attr]


async def test_live_frames_ahead_of_resumed_do_not_move_the_cursor() -> None:
    """Issue 15, fault path 1, the client's half: a gateway whose replay read failed sent
    the welcome and live frames, then 1013. The Subscriber took its cursor from them and
    its next resume skipped the range never replayed. Asked with `since`, no frame before
    `resumed` moves it. (A small aiohttp server plays that older gateway.)"""
    from aiohttp import web

    seen_since: list[str | None] = []

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        seen_since.append(request.query.get("since"))
        ws = web.WebSocketResponse(protocols=("notifications.v1",))
        await ws.prepare(request)
        welcome = {"user_id": "alice", "topics": [], "cursor": "e.90-0", "heartbeat": 30}
        await ws.send_json({"event": "welcome", **welcome})
        if len(seen_since) == 1:  # the replay "failed": a live frame, then 1013
            live = {
                "id": "n-live",
                "type": "t",
                "title": "",
                "body": "",
                "data": {},
                "priority": "normal",
                "created_at": "2026-01-01T00:00:00Z",
            }
            await ws.send_json({"event": "notification", "cursor": "e.90-0", "notification": live})
            await ws.close(code=1013, message=b"backend unreachable: retry with since")
        else:
            resumed = {"since": "e.10-0", "complete": True, "replayed": 0}
            await ws.send_json({"event": "resumed", **resumed})
            await ws.receive()  # until the client closes
        return ws

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sub = Subscriber(ws_url(port), "alice", since="e.10-0", backoff_base=0.01, backoff_cap=0.05)
    try:
        live = await next_item(sub)
        assert isinstance(live, Notification) and live.cursor == "e.90-0"  # handed over
        reading = asyncio.create_task(next_item(sub, 30))  # iterating drives the reconnect
        await until(lambda: len(seen_since) >= 2, within=10, what="no second connect")
        reading.cancel()
        assert seen_since == ["e.10-0", "e.10-0"]  # not "e.90-0": nothing was replayed
    finally:
        await sub.close()
        await runner.cleanup()
