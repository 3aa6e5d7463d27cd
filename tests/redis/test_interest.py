"""Live delivery by interest on one real Redis: a replica is sent only what its connections
need, attaches without a gap or an overlap, and catches up after its feed is cut."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from tests.support.gateway import Client
from tests.support.helpers import everyone, request, topic, users
from tests.support.netproxy import TcpProxy
from tests.support.redis_helpers import RedisServer, ws_client

Stub = pb_grpc.NotificationGatewayStub


async def _notifications(client: Client, count: int) -> list[str]:
    return [(await client.notification(timeout=10))["cursor"] for _ in range(count)]


async def test_a_cursor_ahead_of_this_replicas_feed_resumes_complete(
    on_redis, stubs, redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    """Issue 15, fault path 2: a replica that learns of entries late (here: every byte to
    and from its Redis arrives 0.3 s late) was handed a cursor it had not reached yet and
    answered `complete: false` with the whole history (a false resync, every notification
    again); it now reads past it first."""
    slow_link = await TcpProxy(redis_server.port, delay=0.3).start()
    try:
        a = await on_redis()
        b = await on_redis(f"redis://127.0.0.1:{slow_link.port}/0")
        batch = pb.PublishBatchRequest(requests=[request(users("alice"), "n")] * 20)
        results = (await stubs(a).PublishBatch(batch)).results
        cursors = [r.cursor for r in results]
        alice = await ws_client(http, b.http_port, "alice", since=cursors[9])
        resumed = await alice.event(timeout=10)
        assert resumed["event"] == "resumed"
        assert (resumed["complete"], resumed["replayed"]) == (True, 10)
        assert await _notifications(alice, 10) == cursors[10:]
        await alice.nothing(0.5)  # and not again, live
    finally:
        await slow_link.close()


async def test_a_replica_holding_no_addressee_is_sent_nothing(
    on_redis, stubs, http: aiohttp.ClientSession
) -> None:
    a = await on_redis()
    b = await on_redis()
    bob = await ws_client(http, b.http_port, "bob")
    followed = b.log.stats.followed
    nobody = [request(users(f"nobody-{i}"), "n") for i in range(300)]
    await stubs(a).PublishBatch(pb.PublishBatchRequest(requests=nobody))
    to_bob = await stubs(a).Publish(request(users("bob", "nobody-1"), "hi"))
    assert (await bob.notification())["cursor"] == to_bob.cursor
    broadcast = await stubs(a).Publish(request(everyone(), "all"))
    assert (await bob.notification())["cursor"] == broadcast.cursor
    assert b.log.stats.followed - followed == 2  # bob's and the broadcast, nothing else
    assert b.log.stats.unaddressed == 0
    async with http.get(f"http://127.0.0.1:{b.http_port}/metrics") as response:
        text = await response.text()
    for name in ("subscriptions", "catchup_reads_total", "unaddressed_total"):
        assert f"gateway_backend_{name} " in text, name


async def test_a_user_connecting_while_notifications_stream_in_misses_none_and_sees_none_twice(
    on_redis, stubs, http: aiohttp.ClientSession
) -> None:
    a = await on_redis()
    b = await on_redis()
    stub = stubs(a)
    published: list[str] = []

    async def publish() -> None:
        for i in range(60):
            batch = pb.PublishBatchRequest(requests=[request(users("alice"), f"n{i}")] * 5)
            published.extend(r.cursor for r in (await stub.PublishBatch(batch)).results)
            await asyncio.sleep(0.005)

    first = await ws_client(http, b.http_port, "alice", welcome=False)
    since = (await first.event())["cursor"]  # the welcome: everything after it is owed
    await first.ws.close()
    publishing = asyncio.create_task(publish())
    seen: list[str] = []
    try:
        while not publishing.done() or not seen or seen[-1] != published[-1]:
            client = await ws_client(http, b.http_port, "alice", welcome=False, since=since)
            assert (await client.event())["event"] == "welcome"
            resumed = await client.event()
            assert resumed["event"] == "resumed" and resumed["complete"] is True
            with contextlib.suppress(TimeoutError):
                for _ in range(7):  # a few, then away and back with since
                    seen.append((await client.notification(timeout=0.5))["cursor"])
            await client.ws.close()
            since = seen[-1] if seen else since
    finally:
        await publishing
    assert seen == published  # every one, in order, once


async def test_a_killed_subscription_connection_loses_nothing(
    on_redis, stubs, redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    a = await on_redis()
    b = await on_redis()
    alice = await ws_client(http, b.http_port, "alice")
    stub = stubs(a)
    published: list[str] = []
    for round_ in range(6):
        batch = pb.PublishBatchRequest(requests=[request(users("alice"), f"r{round_}")] * 50)
        published.extend(r.cursor for r in (await stub.PublishBatch(batch)).results)
        if round_ in (1, 3):
            redis_server.command("CLIENT", "KILL", "TYPE", "pubsub")
    assert await _notifications(alice, len(published)) == published
    await alice.nothing(0.3)
    assert b.log.stats.catchup_reads >= 1


async def test_a_topic_followed_later_comes_live_and_stops_after_unfollowing(
    on_redis, stubs, redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    a = await on_redis()
    b = await on_redis()
    alice = await ws_client(http, b.http_port, "alice")
    await alice.send({"op": "subscribe", "topic": "news"})
    assert (await alice.event())["event"] == "subscribed"

    def followers() -> int:
        return int(redis_server.command("PUBSUB", "NUMSUB", "gateway:t:news").split()[1])

    assert followers() == 1  # `subscribed` is sent once the replica has the topic
    sent = await stubs(a).Publish(request(topic("news"), "n"))
    assert (await alice.notification())["cursor"] == sent.cursor
    await alice.send({"op": "unsubscribe", "topic": "news"})
    assert (await alice.event())["event"] == "unsubscribed"
    await stubs(a).Publish(request(topic("news"), "later"))
    await alice.nothing(0.3)


async def test_subscribed_means_what_is_published_next_arrives(
    on_redis, stubs, redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    """A replica whose link to Redis is slow (0.3 s each way) takes a topic a round trip
    after the op: `subscribed` was sent at once, so a notification published as soon as
    the client read it went past that replica. `subscribed` now waits for the topic."""
    slow_link = await TcpProxy(redis_server.port, delay=0.3).start()
    try:
        a = await on_redis()
        b = await on_redis(f"redis://127.0.0.1:{slow_link.port}/0")
        alice = await ws_client(http, b.http_port, "alice")
        await alice.send({"op": "subscribe", "topic": "news"})
        assert (await alice.event(timeout=10))["event"] == "subscribed"
        sent = await stubs(a).Publish(request(topic("news"), "n"))
        assert (await alice.notification(timeout=10))["cursor"] == sent.cursor
        # dropped before it came live: `unsubscribed`, and no late `subscribed` after it
        await alice.send({"op": "subscribe", "topic": "sports"})
        await alice.send({"op": "unsubscribe", "topic": "sports"})
        assert (await alice.event(timeout=10))["event"] == "unsubscribed"
        await alice.nothing(1.0)
    finally:
        await slow_link.close()


def _script_calls(redis_server: RedisServer) -> int:
    for line in redis_server.command("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_evalsha:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def test_a_connect_storm_shares_its_barriers(
    on_redis, redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    """Each connect needs a barrier (the stream's end read, a PING): 90 at once share a few
    rounds instead of 90 (which timed out under a storm of 1,000 and refused them). 90:
    the test's HTTP session opens at most 100 connections at once."""
    b = await on_redis()
    before = _script_calls(redis_server)
    clients = await asyncio.gather(*(ws_client(http, b.http_port, f"storm-{i}") for i in range(90)))
    assert len(clients) == 90  # every one welcomed
    assert _script_calls(redis_server) - before < 30
    for client in clients:
        await client.ws.close()
