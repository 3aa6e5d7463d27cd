"""The log sharded over a real 3-master Redis Cluster (`redis+cluster://`, hash tags per
shard, sharded pub/sub): delivery exactly once, resumes complete after every gateway
restarted, one order per user, presence and Disconnect across replicas."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from gateway.api.v1 import gateway_pb2 as pb
from gateway.app import Gateway
from gateway.log.shards import ShardedLog, shard_index
from tests.support.gateway import StartGateway
from tests.support.helpers import everyone, request, topic, users
from tests.support.redis_helpers import RedisClusterServers, ws_client
from tests.support.waiting import until

SHARDS = 3


def on_shard(shard: int, count: int = 1) -> list[str]:
    names = (f"c{i}" for i in range(10_000))
    return [n for n in names if shard_index(n, SHARDS) == shard][:count]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterServers]:
    servers = RedisClusterServers(tmp_path)
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def on_cluster(
    start_gateway: StartGateway, cluster: RedisClusterServers
) -> Callable[..., Awaitable[Gateway]]:
    async def start() -> Gateway:
        gateway = await start_gateway(backend=cluster.url, redis_shards=SHARDS)
        assert isinstance(gateway.log, ShardedLog)
        shards = gateway.log.shards
        await until(lambda: all(s.healthy for s in shards), 15, "not every shard reached")
        return gateway

    return start


async def test_a_cluster_log_delivers_once_resumes_complete_and_keeps_each_users_order(
    on_cluster, stubs, cluster: RedisClusterServers, http: aiohttp.ClientSession
) -> None:
    a, b = await on_cluster(), await on_cluster()
    names = [on_shard(shard)[0] for shard in range(SHARDS)]
    tabs = {
        name: [await ws_client(http, g.http_port, name, topics="news") for g in (a, b)]
        for name in names
    }
    targets = [users(*names), topic("news"), everyone()]
    for i, target in enumerate(targets):
        await stubs(a if i % 2 else b).Publish(request(target, f"t{i}"))
    cursors = {}
    for name, pair in tabs.items():
        seen = [[(await tab.notification())["cursor"] for _ in targets] for tab in pair]
        assert seen[0] == seen[1]  # both tabs: one order, the cursors of the user's shard
        assert len({c.rpartition(".")[0] for c in seen[0]}) == 1
        cursors[name] = seen[0][0]
        for tab in pair:
            await tab.nothing(0.1)
    epochs = {c.rpartition(".")[0] for c in cursors.values()}
    assert len(epochs) == SHARDS

    # each shard's hash tag lands on another master (slots 3871, 7998, 12125), and its
    # live entries travel by sharded pub/sub on that node
    assert len({cluster.node_of(f"{{gateway-{s}}}:log").port for s in range(SHARDS)}) == 3
    for shard in range(SHARDS):
        channel = f"{{gateway-{shard}}}:e"
        node = cluster.node_of(channel)
        assert node.command("PUBSUB", "SHARDNUMSUB", channel).split() == [channel, "2"]
    presence = await stubs(b).GetPresence(pb.GetPresenceRequest(user_ids=names))
    assert presence.total_connections == 2 * SHARDS

    await a.drain()
    await b.drain()
    again = await on_cluster()
    for name in names:
        resumed = await ws_client(
            http, again.http_port, name, welcome=False, topics="news", since=cursors[name]
        )
        assert (await resumed.event())["event"] == "welcome"
        event = await resumed.event()
        assert (event["event"], event["complete"], event["replayed"]) == ("resumed", True, 2)
        assert [(await resumed.notification())["notification"]["type"] for _ in range(2)] == [
            "t1",
            "t2",
        ]


async def test_a_cluster_master_restarted_empty_closes_its_shards_users_4010_only(
    on_cluster, stubs, cluster: RedisClusterServers, http: aiohttp.ClientSession
) -> None:
    """The master of shard 1 stops and comes back without its data: shard 1's user is
    closed with 4010 and resumes `complete: false`; the users of shards 0 and 2 (on the
    other masters) keep their connections and get what is published meanwhile."""
    gateway = await on_cluster()
    lost, kept = on_shard(1)[0], [on_shard(0)[0], on_shard(2)[0]]
    lost_client = await ws_client(http, gateway.http_port, lost)
    await stubs(gateway).Publish(request(users(lost), "before"))
    since = (await lost_client.notification())["cursor"]
    kept_clients = [await ws_client(http, gateway.http_port, name) for name in kept]
    node = cluster.node_of("{gateway-1}:log")
    assert all(cluster.node_of(f"{{gateway-{s}}}:log") is not node for s in (0, 2))

    node.stop()
    await until(lambda: not gateway.log.shard(lost).healthy, 10, "shard 1 still up")
    for name, client in zip(kept, kept_clients, strict=True):
        await stubs(gateway).Publish(request(users(name), "during"))
        assert (await client.notification())["notification"]["type"] == "during"
    cluster.restart(node)

    assert await lost_client.closed(timeout=15) == 4010
    await until(lambda: gateway.log.shard(lost).healthy, 15, "shard 1 not back")
    again = await ws_client(http, gateway.http_port, lost, welcome=False, since=since)
    assert (await again.event())["event"] == "welcome"
    resumed = await again.event()
    assert (resumed["event"], resumed["complete"]) == ("resumed", False)
    await stubs(gateway).Publish(request(everyone(), "after"))
    for client in [*kept_clients, again]:
        assert (await client.notification())["notification"]["type"] == "after"
        await client.nothing(0.1)
