"""Traces over a log sharded across two real redis-servers: a broadcast is appended to each
shard and handed out per shard (`deliver_shard`), and each shard's hand-off of a batch's
copies is a `fan-out` span (a run, not one per entry) under, and linked to, the one
`publish` span (the unsharded log: test_tracing.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.log.shards import ShardedLog, shard_index
from tests.support.gateway import StartGateway
from tests.support.helpers import everyone, request
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.redis_helpers import RedisServer, redis_servers, ws_client
from tests.support.waiting import until

SHARDS = 2
#: Broadcasts in the traced batch: each shard hands its copies out as one run.
BATCH = 10
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = "00f067aa0ba902b7"


@pytest.fixture
def shard_servers(tmp_path: Path) -> Iterator[list[RedisServer]]:
    with redis_servers(tmp_path, SHARDS) as servers:
        yield servers


async def test_each_shards_hand_off_is_a_fan_out_span_of_the_publish(
    receiver: OtlpReceiver,
    shard_servers: list[RedisServer],
    start_gateway: StartGateway,
    http: aiohttp.ClientSession,
) -> None:
    gateway = await start_gateway(backend=",".join(server.url for server in shard_servers))
    assert gateway.tracing.on and isinstance(gateway.log, ShardedLog)
    log = gateway.log
    await until(lambda: all(shard.healthy for shard in log.shards), 10, "a shard not reached")
    names = (f"u{i}" for i in range(100))
    one_per_shard = [next(n for n in names if shard_index(n, SHARDS) == s) for s in range(SHARDS)]
    tabs = [await ws_client(http, gateway.http_port, name) for name in one_per_shard]
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        await stub.PublishBatch(
            pb.PublishBatchRequest(requests=[request(everyone(), "fleet.notice")] * BATCH),
            metadata=[("traceparent", f"00-{TRACE_ID}-{CALLER}-01")],
        )
    # shard s's copies, as its user's tab got them
    cursors = [[(await tab.notification())["cursor"] for _ in range(BATCH)] for tab in tabs]
    assert len({run[0].rpartition(".")[0] for run in cursors}) == SHARDS  # a copy per shard

    def entries(spans: list[ReceivedSpan]) -> int:
        return sum(s.attributes["gateway.entries"] for s in spans if s.name == "fan-out")

    spans = await receiver.wait_for(lambda spans: entries(spans) == SHARDS * BATCH)
    (publish,) = [s for s in spans if s.name == "publish"]
    assert (publish.trace_id, publish.parent_id) == (TRACE_ID, CALLER)
    assert publish.attributes["gateway.backend"] == "redis"
    (append,) = [s for s in spans if s.name == "append"]
    assert append.parent_id == publish.span_id
    for shard, (first, *_, last) in enumerate(cursors):
        runs = [s for s in spans if s.name == "fan-out" and s.attributes["gateway.shard"] == shard]
        # one run unless the replica stalled mid-batch (a loaded machine): far from BATCH
        assert 1 <= len(runs) <= BATCH // 5, [s.attributes for s in runs]
        assert sum(s.attributes["gateway.entries"] for s in runs) == BATCH
        assert sum(s.attributes["gateway.recipients"] for s in runs) == BATCH  # its one user
        assert {s.attributes["gateway.cursor"] for s in runs} >= {first}
        assert {s.attributes.get("gateway.cursor.last") for s in runs} >= {last}
        for fan_out in runs:
            assert fan_out.trace_id == TRACE_ID and fan_out.parent_id == publish.span_id
            assert fan_out.links == [(TRACE_ID, publish.span_id)]
