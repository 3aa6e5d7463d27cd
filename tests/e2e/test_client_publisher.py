"""AsyncPublisher against real gateways: publish, batch, stream, retries, auto-batching."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from gateway.api.v1 import gateway_pb2 as pb
from gateway.app import Gateway
from gateway.client import AsyncPublisher, PublishError, RetryPolicy, publish_request
from tests.support.gateway import Connect, StartGateway
from tests.support.helpers import free_port, self_signed_cert

FAST_RETRY = RetryPolicy(attempts=40, base=0.02, cap=0.2, deadline=10.0)


def _address(gateway: Gateway) -> str:
    return f"127.0.0.1:{gateway.grpc_port}"


async def test_publish_sets_a_client_id_and_reaches_the_user(
    gateway: Gateway, connect: Connect
) -> None:
    alice = await connect("alice")
    async with AsyncPublisher(_address(gateway)) as pub:
        reply = await pub.publish(users=["alice"], type="order.shipped", data={"order": 42})
        request = publish_request(users=["alice"], type="order.packed")
        again = await pub.send(request)
        with pytest.raises(PublishError) as bad:
            await pub.publish(users=["alice"], type="Not.Valid")
    assert request.notification.id == again.id  # made here, before the first try
    event = await alice.notification()
    assert event["cursor"] == reply.cursor and event["notification"]["id"] == reply.id
    assert event["notification"]["data"] == {"order": 42}
    assert (await alice.notification())["cursor"] == again.cursor
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert bad.value.message.startswith("notification.type:")
    await alice.nothing()


async def test_publish_batch_answers_each_item(gateway: Gateway, connect: Connect) -> None:
    alice = await connect("alice", topics="news")
    async with AsyncPublisher(_address(gateway)) as pub:
        outcomes = await pub.publish_batch(
            [
                {"users": ["alice"], "type": "one"},
                publish_request(topic="news", type="two"),
                {"users": ["alice"], "type": "Three"},
                {"everyone": True, "type": "four", "id": "fixed-4"},
            ]
        )
        assert pub.stats.rpcs == 1
    first, second, bad, fourth = outcomes
    assert isinstance(first, pb.PublishResponse) and isinstance(second, pb.PublishResponse)
    assert isinstance(bad, PublishError) and bad.code == grpc.StatusCode.INVALID_ARGUMENT
    assert isinstance(fourth, pb.PublishResponse) and fourth.id == "fixed-4"
    got = [(await alice.notification())["notification"]["type"] for _ in range(3)]
    assert got == ["one", "two", "four"]


async def test_publish_batch_splits_over_the_item_limit(gateway: Gateway) -> None:
    async with AsyncPublisher(_address(gateway)) as pub:
        outcomes = await pub.publish_batch(
            [{"everyone": True, "type": "bulk"} for _ in range(2500)]
        )
        assert pub.stats.rpcs == 3
    assert all(isinstance(o, pb.PublishResponse) for o in outcomes)
    assert len({o.cursor for o in outcomes if isinstance(o, pb.PublishResponse)}) == 2500


async def test_stream_pipelines_and_a_bad_item_ends_it(gateway: Gateway, connect: Connect) -> None:
    alice = await connect("alice")
    async with AsyncPublisher(_address(gateway)) as pub, pub.stream() as stream:
        replies = await asyncio.gather(
            *(stream.publish(users=["alice"], type="seq", data={"n": n}) for n in range(50))
        )
        cursors = [r.cursor for r in replies]
        got = [await alice.notification() for _ in range(50)]
        assert [e["cursor"] for e in got] == cursors
        assert [e["notification"]["data"]["n"] for e in got] == list(range(50))
        with pytest.raises(PublishError) as bad:
            await stream.publish(users=["alice"], type="Bad")
        assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "item 50" in bad.value.message
        with pytest.raises(PublishError):
            await stream.publish(users=["alice"], type="after.the.end")
    await alice.nothing()


async def test_a_bad_item_among_pipelined_ones_fails_it_and_every_later_caller(
    gateway: Gateway, connect: Connect
) -> None:
    """The bad item's caller gets the gateway's INVALID_ARGUMENT naming the field, and every
    later caller the same error; nothing after the bad item is published.

    Most of the time a later item's write loses the race with the gateway's status and
    grpc.aio's client replaces that status with INTERNAL "Internal error from Core"
    (grpc/grpc#36066); the stream then asks the gateway again for the unanswered items
    (stream.py). Callers still queued for the write lock when the stream ends get its
    error too (they used to join the FIFO after the reader had emptied it, and wait
    forever).
    """
    alice = await connect("alice")
    async with AsyncPublisher(_address(gateway)) as pub, pub.stream() as stream:

        async def one(type_: str) -> pb.PublishResponse | PublishError:
            try:
                return await stream.publish(users=["alice"], type=type_)
            except PublishError as exc:
                return exc

        types = ["first", "Bad", *(f"after.{n}" for n in range(6))]
        outcomes = await asyncio.wait_for(asyncio.gather(*map(one, types)), 10)
        with pytest.raises(PublishError) as later:
            await stream.publish(users=["alice"], type="after.the.end")
    first, bad, *after = outcomes
    assert isinstance(first, pb.PublishResponse), first
    assert isinstance(bad, PublishError), bad
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT, bad
    assert bad.message.startswith("item 1: notification.type:"), bad.message
    assert all(
        isinstance(o, PublishError) and (o.code, o.message) == (bad.code, bad.message)
        for o in [*after, later.value]
    ), after
    assert (await alice.notification())["cursor"] == first.cursor
    await alice.nothing()


async def test_unavailable_is_retried_until_the_gateway_starts(
    start_gateway: StartGateway, http
) -> None:
    grpc_port, http_port = free_port(), free_port()
    async with AsyncPublisher(f"127.0.0.1:{grpc_port}", retry=FAST_RETRY) as pub:
        publish = asyncio.create_task(pub.publish(users=["alice"], type="early.bird"))
        await asyncio.sleep(0.4)  # the first tries meet a closed port
        assert not publish.done()
        gateway = await start_gateway(grpc_port=grpc_port, http_port=http_port)
        reply = await asyncio.wait_for(publish, 10)
        assert pub.stats.retries >= 1
    assert gateway.service.metrics.published == 1
    ws = await http.ws_connect(
        f"http://127.0.0.1:{http_port}/ws", params={"user_id": "alice", "since": "0-0"}
    )
    assert (await ws.receive_json())["event"] == "welcome"
    assert (await ws.receive_json())["replayed"] == 1
    assert (await ws.receive_json())["cursor"] == reply.cursor
    await ws.close()


async def test_draining_gateway_is_retried_without_double_delivery(
    gateway: Gateway, connect: Connect
) -> None:
    alice = await connect("alice")
    async with AsyncPublisher(_address(gateway), retry=FAST_RETRY) as pub:
        gateway.service.accepting = False  # what drain() does first: UNAVAILABLE for all
        unary = asyncio.create_task(pub.publish(users=["alice"], type="unary.item"))
        batch = asyncio.create_task(
            pub.publish_batch([{"users": ["alice"], "type": f"batch.item{n}"} for n in range(3)])
        )
        await asyncio.sleep(0.3)
        assert not unary.done() and not batch.done()
        refused = gateway.service.metrics.rejected_unavailable
        assert refused >= 2
        gateway.service.accepting = True
        reply = await asyncio.wait_for(unary, 5)
        outcomes = await asyncio.wait_for(batch, 5)
        assert pub.stats.retries >= 2
    assert all(isinstance(o, pb.PublishResponse) for o in outcomes)
    got = {(await alice.notification())["cursor"] for _ in range(4)}
    assert reply.cursor in got
    await alice.nothing(0.3)  # each delivered once, whatever the number of tries
    assert gateway.service.metrics.published == 4


async def test_retries_are_bounded(gateway: Gateway) -> None:
    gateway.service.accepting = False
    policy = RetryPolicy(attempts=3, base=0.01, cap=0.02, deadline=5)
    async with AsyncPublisher(_address(gateway), retry=policy) as pub:
        with pytest.raises(PublishError) as failure:
            await pub.publish(everyone=True, type="never")
        assert pub.stats.rpcs == 3
    assert failure.value.code == grpc.StatusCode.UNAVAILABLE
    gateway.service.accepting = True


async def test_auto_batching_groups_concurrent_publishes(
    gateway: Gateway, connect: Connect
) -> None:
    alice = await connect("alice")
    async with AsyncPublisher(_address(gateway), auto_batch=True, batch_window=0.01) as pub:
        replies = await asyncio.gather(
            *(pub.publish(users=["alice"], type="auto", data={"n": n}) for n in range(200))
        )
        assert pub.stats.auto_batches == 1 and pub.stats.rpcs == 1
    assert len({r.cursor for r in replies}) == 200
    got = [await alice.notification() for _ in range(200)]
    assert [e["cursor"] for e in got] == [r.cursor for r in replies]
    assert [e["notification"]["data"]["n"] for e in got] == list(range(200))


async def test_auto_batching_isolates_a_bad_item(gateway: Gateway, connect: Connect) -> None:
    alice = await connect("alice")
    async with AsyncPublisher(_address(gateway), auto_batch=True) as pub:
        outcomes = await asyncio.gather(
            pub.publish(users=["alice"], type="good.one"),
            pub.publish(users=["alice"], type="Bad.One"),
            pub.publish(users=["alice"], type="good.two"),
            return_exceptions=True,
        )
        assert pub.stats.rpcs == 1
    good_one, bad, good_two = outcomes
    assert isinstance(bad, PublishError) and bad.code == grpc.StatusCode.INVALID_ARGUMENT
    assert bad.message.startswith("notification.type:")
    assert isinstance(good_one, pb.PublishResponse) and isinstance(good_two, pb.PublishResponse)
    got = [(await alice.notification())["notification"]["type"] for _ in range(2)]
    assert got == ["good.one", "good.two"]


async def test_auto_batching_caps_batches_and_gathers_while_one_is_in_flight(
    gateway: Gateway,
) -> None:
    pub = AsyncPublisher(_address(gateway), auto_batch=True, batch_window=5.0, max_batch=100)
    started = asyncio.get_running_loop().time()
    replies = await asyncio.gather(*(pub.publish(everyone=True, type="t") for _ in range(250)))
    # 100 and 100 leave as they fill; the last 50 when an answer comes, not after 5 s
    assert asyncio.get_running_loop().time() - started < 2.5
    assert pub.stats.auto_batches == 3 and pub.stats.items == 250
    assert len({r.cursor for r in replies}) == 250

    late = [asyncio.create_task(pub.publish(everyone=True, type="t")) for _ in range(30)]
    await asyncio.sleep(0)  # the tasks make their publish calls
    await pub.close()  # what was queued is sent and answered before close returns
    assert all(t.done() and not t.exception() for t in late)
    assert gateway.service.metrics.published == 280
    with pytest.raises(RuntimeError, match="closed"):
        await pub.publish(everyone=True, type="too.late")


async def test_publish_token_and_its_refusal_are_not_retried(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(publish_tokens="tok-one")
    async with AsyncPublisher(_address(gateway), token="tok-one") as pub:
        assert (await pub.publish(everyone=True, type="allowed")).cursor
    async with AsyncPublisher(_address(gateway), token="wrong", auto_batch=True) as pub:
        outcomes = await asyncio.gather(
            *(pub.publish(everyone=True, type="refused") for _ in range(3)),
            return_exceptions=True,
        )
        assert pub.stats.rpcs == 1 and pub.stats.retries == 0
    for outcome in outcomes:
        assert isinstance(outcome, PublishError)
        assert outcome.code == grpc.StatusCode.UNAUTHENTICATED
    assert len({id(o) for o in outcomes}) == 3  # each caller raises its own exception


async def test_tls_credentials(start_gateway: StartGateway, tmp_path: Path) -> None:
    cert_pem = self_signed_cert(tmp_path)
    gateway = await start_gateway(
        grpc_tls_cert_file=tmp_path / "cert.pem", grpc_tls_key_file=tmp_path / "key.pem"
    )
    address = f"localhost:{gateway.grpc_port}"
    credentials = grpc.ssl_channel_credentials(root_certificates=cert_pem)
    async with AsyncPublisher(address, credentials=credentials, auto_batch=True) as pub:
        assert (await pub.publish(everyone=True, type="over.tls")).cursor
    policy = RetryPolicy(attempts=2, base=0.01, cap=0.02)
    async with AsyncPublisher(address, retry=policy) as plain:  # no TLS: never connects
        with pytest.raises(PublishError) as failure:
            await plain.publish(everyone=True, type="in.clear")
    assert failure.value.code == grpc.StatusCode.UNAVAILABLE
