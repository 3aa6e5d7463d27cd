"""A log sharded over three real redis-servers (a list of URLs): delivery exactly once,
resumes complete across shards and restarts, one order per user, a shard's loss its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.log.shards import ShardedLog, shard_index
from tests.support.gateway import Client, StartGateway
from tests.support.helpers import everyone, request, topic, users
from tests.support.redis_helpers import RedisServer, redis_servers, ws_client
from tests.support.waiting import until

SHARDS = 3


def on_shard(shard: int, count: int = 2, prefix: str = "u") -> list[str]:
    """`count` user ids that live on `shard` (of `SHARDS`)."""
    names = (f"{prefix}{i}" for i in range(10_000))
    return [n for n in names if shard_index(n, SHARDS) == shard][:count]


@pytest.fixture
def shard_servers(tmp_path: Path) -> Iterator[list[RedisServer]]:
    with redis_servers(tmp_path, SHARDS) as servers:
        yield servers


@pytest.fixture
def on_shards(
    start_gateway: StartGateway, shard_servers: list[RedisServer]
) -> Callable[..., Awaitable[Gateway]]:
    backend = ",".join(server.url for server in shard_servers)

    async def start(**overrides: object) -> Gateway:
        gateway = await start_gateway(backend=backend, **overrides)
        assert isinstance(gateway.log, ShardedLog)
        shards = gateway.log.shards
        await until(lambda: all(s.healthy for s in shards), 10, "not every shard reached")
        return gateway

    return start


def epoch_of(cursor: str) -> str:
    return cursor.rpartition(".")[0]


async def test_users_topics_and_everyone_reach_every_connection_exactly_once(
    on_shards, stubs, http: aiohttp.ClientSession
) -> None:
    """Two replicas each hold users of all three shards, some following a topic: a publish
    to users of several shards, to the topic and to everyone reaches each connection once,
    with a cursor of its own user's shard."""
    a, b = await on_shards(), await on_shards()
    names = [name for shard in range(SHARDS) for name in on_shard(shard)]
    clients: dict[str, list[Client]] = {name: [] for name in names}
    for name in names:
        for gateway in (a, b):
            clients[name].append(await ws_client(http, gateway.http_port, name, topics="news"))
    loner = await ws_client(http, b.http_port, on_shard(1, 3)[2])  # follows no topic
    published = [
        await stubs(a).Publish(request(users(*names), "to.users")),
        await stubs(b).Publish(request(topic("news"), "to.topic")),
        await stubs(a).Publish(request(everyone(), "to.everyone")),
    ]
    assert published[0].delivered == len(names)  # the accepting replica's own, each shard's
    epochs = {shard: set() for shard in range(SHARDS)}
    for name, tabs in clients.items():
        for tab in tabs:
            got = [await tab.notification() for _ in published]
            assert [g["notification"]["type"] for g in got] == [
                "to.users",
                "to.topic",
                "to.everyone",
            ]
            epochs[shard_index(name, SHARDS)].update(epoch_of(g["cursor"]) for g in got)
            await tab.nothing(0.1)
    assert all(len(seen) == 1 for seen in epochs.values()), epochs  # one store per shard
    assert len({next(iter(seen)) for seen in epochs.values()}) == SHARDS
    assert (await loner.notification())["notification"]["type"] == "to.everyone"
    await loner.nothing(0.1)


async def test_cursors_resume_complete_across_shards_and_every_gateway_restarted(
    on_shards, stubs, http: aiohttp.ClientSession
) -> None:
    names = [on_shard(shard, 1)[0] for shard in range(SHARDS)]
    first = await on_shards()
    cursors = {}
    for name in names:
        client = await ws_client(http, first.http_port, name, topics="news")
        await stubs(first).Publish(request(users(name), "seen"))
        cursors[name] = (await client.notification())["cursor"]
        await client.ws.close()
    missed = [
        request(users(*names), "missed.users"),
        request(topic("news"), "missed.topic"),
        request(everyone(), "missed.everyone"),
    ]
    for item in missed:
        await stubs(first).Publish(item)
    await first.drain()
    second = await on_shards()
    for name in names:
        client = await ws_client(
            http, second.http_port, name, welcome=False, topics="news", since=cursors[name]
        )
        assert (await client.event())["event"] == "welcome"
        resumed = await client.event()
        assert (resumed["event"], resumed["complete"], resumed["replayed"]) == ("resumed", True, 3)
        got = [await client.notification() for _ in missed]
        assert [g["notification"]["type"] for g in got] == [
            "missed.users",
            "missed.topic",
            "missed.everyone",
        ]
        assert {epoch_of(g["cursor"]) for g in got} == {epoch_of(cursors[name])}
        await client.nothing(0.1)


async def test_one_order_per_user_across_tabs_on_two_replicas(
    on_shards, stubs, http: aiohttp.ClientSession
) -> None:
    a, b = await on_shards(), await on_shards()
    name = on_shard(2, 1)[0]
    tab_a = await ws_client(http, a.http_port, name, topics="news")
    tab_b = await ws_client(http, b.http_port, name, topics="news")

    async def publish(gateway: Gateway, who: str) -> None:
        stub = stubs(gateway)
        for n in range(15):
            for target in (users(name, *on_shard(0, 1)), topic("news"), everyone()):
                await stub.Publish(request(target, f"{who}.n", data={"n": n}))

    await asyncio.gather(publish(a, "a"), publish(b, "b"))
    seen_a = [(await tab_a.notification())["cursor"] for _ in range(90)]
    seen_b = [(await tab_b.notification())["cursor"] for _ in range(90)]
    assert seen_a == seen_b
    assert len(set(seen_a)) == 90
    order = [tuple(int(p) for p in c.partition(".")[2].split("-")) for c in seen_a]
    assert order == sorted(order)
    await tab_a.nothing(0.1)


async def test_a_shard_restarted_empty_closes_its_users_4010_and_leaves_the_others(
    on_shards, stubs, shard_servers: list[RedisServer], http: aiohttp.ClientSession
) -> None:
    """Shard 1 stops and comes back empty (another store): its users are closed with 4010
    and resume `complete: false`; the users of shards 0 and 2 keep their connections and
    miss nothing. A topic publish fails UNAVAILABLE while the shard is down."""
    gateway = await on_shards()
    lost, kept = on_shard(1, 1)[0], [on_shard(0, 1)[0], on_shard(2, 1)[0]]
    lost_client = await ws_client(http, gateway.http_port, lost)
    await stubs(gateway).Publish(request(users(lost), "before"))
    since = (await lost_client.notification())["cursor"]
    kept_clients = [await ws_client(http, gateway.http_port, name) for name in kept]

    shard_servers[1].stop()
    await until(lambda: not gateway.log.shard(lost).healthy, 10, "shard 1 still up")
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/metrics") as response:
        exposed = await response.text()
    assert "gateway_backend_shards_down 1.0" in exposed
    assert "gateway_backend_up 1.0" in exposed  # the other shards answer: still ready
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # its users wait for it
        await ws_client(http, gateway.http_port, lost)
    assert refused.value.status == 503
    await ws_client(http, gateway.http_port, kept[0])  # the other shards' users connect
    with pytest.raises(Exception, match="UNAVAILABLE"):
        await stubs(gateway).Publish(request(everyone(), "while.down"))
    for name, client in zip(kept, kept_clients, strict=True):
        await stubs(gateway).Publish(request(users(name), "during"))
        assert (await client.notification())["notification"]["type"] == "during"
    shard_servers[1].start()

    assert await lost_client.closed(timeout=10) == 4010
    await until(lambda: gateway.log.shard(lost).healthy, 10, "shard 1 not back")
    resumed_client = await ws_client(http, gateway.http_port, lost, welcome=False, since=since)
    assert (await resumed_client.event())["event"] == "welcome"
    resumed = await resumed_client.event()
    assert (resumed["event"], resumed["complete"]) == ("resumed", False)
    await stubs(gateway).Publish(request(everyone(), "after"))
    for client in [*kept_clients, resumed_client]:
        assert (await client.notification())["notification"]["type"] == "after"
        await client.nothing(0.1)
