"""The operators' side: the Prometheus exposition, the ops port, gRPC reflection."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys

import aiohttp
import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc import aio
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.v1 import gateway_pb2 as pb
from gateway.app import Gateway
from gateway.ops import site as ops_site
from tests.support.gateway import Connect, StartGateway
from tests.support.helpers import ROOT, everyone, request, users

#: Every family docs/operations/metrics.md lists, by the name Prometheus scrapes.
GATEWAY_FAMILIES = {
    "gateway_published",
    "gateway_duplicates",
    "gateway_delivered",
    "gateway_replayed",
    "gateway_rejected_invalid",
    "gateway_rejected_unavailable",
    "gateway_connections_opened",
    "gateway_slow_clients_closed",
    "gateway_bad_client_frames",
    "gateway_connections_refused",
    "gateway_publish_latency_seconds",
    "gateway_fanout_connections",
    "gateway_flush_bytes",
    "gateway_connections",
    "gateway_ready",
}


async def scrape(http: aiohttp.ClientSession, port: int) -> dict[str, float]:
    """Samples by `name{label="value",...}` (labels sorted), parsed by prometheus-client."""
    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def test_every_family_has_help_and_the_standard_collectors_are_there(
    gateway: Gateway, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/metrics") as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    assert families.keys() >= GATEWAY_FAMILIES, GATEWAY_FAMILIES - families.keys()
    for name in ("process_cpu_seconds", "process_resident_memory_bytes", "python_gc_collections"):
        assert name in families, name
    assert "python_info" in families
    for family in families.values():
        assert family.documentation.strip(), f"{family.name} has no HELP"
    assert families["gateway_publish_latency_seconds"].type == "histogram"
    assert families["gateway_published"].type == "counter"
    assert families["gateway_connections"].type == "gauge"


async def test_openmetrics_when_the_scraper_asks_for_it(
    gateway: Gateway, http: aiohttp.ClientSession
) -> None:
    accept = "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"
    async with http.get(
        f"http://127.0.0.1:{gateway.http_port}/metrics", headers={"Accept": accept}
    ) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        text = await response.text()
    assert text.endswith("# EOF\n")
    assert "gateway_published_total 0.0" in text.splitlines()


async def test_histograms_count_latency_fanout_and_bytes_per_flush(
    gateway: Gateway, stub, connect: Connect, http: aiohttp.ClientSession
) -> None:
    clients = [await connect(name) for name in ("alice", "bob", "carol")]
    # each connect's 101, welcome and replay are written when it starts, in no flush pass
    before = await scrape(http, gateway.http_port)
    assert before["gateway_flush_bytes_count"] == 0
    await stub.Publish(request(everyone(), "h.all", id="h1"))
    batch = pb.PublishBatchRequest(
        requests=[
            request(users("alice"), "h.one", id="h2"),
            request(users("nobody"), "h.none", id="h3"),
            request(users("alice"), "", id="h4"),  # invalid: no type
        ]
    )
    await stub.PublishBatch(batch)
    alice_frames = []  # the sampled write of each flush pass is alice's (connected first)
    for client in clients:
        for _ in range(2 if client is clients[0] else 1):
            msg = await client.ws.receive(timeout=3)
            size = len(msg.data.encode())
            if client is clients[0]:
                alice_frames.append(size + (2 if size < 126 else 4))  # + the frame header
    s = await scrape(http, gateway.http_port)

    # three notifications accepted (one Publish, two of the batch), each timed
    assert s["gateway_publish_latency_seconds_count"] == 3
    assert s['gateway_publish_latency_seconds_bucket{le="+Inf"}'] == 3
    assert 0 < s["gateway_publish_latency_seconds_sum"] < 3 * 2.5
    # fan-out: 3 connections, then 1, then 0
    assert s["gateway_fanout_connections_count"] == 3
    assert s["gateway_fanout_connections_sum"] == 4
    assert s['gateway_fanout_connections_bucket{le="0.0"}'] == 1
    assert s['gateway_fanout_connections_bucket{le="1.0"}'] == 2
    assert s['gateway_fanout_connections_bucket{le="2.0"}'] == 2
    assert s['gateway_fanout_connections_bucket{le="5.0"}'] == 3
    # bytes per write, sampled once per flush pass: the two passes since wrote alice first
    assert s["gateway_flush_bytes_count"] - before["gateway_flush_bytes_count"] == 2
    assert s["gateway_flush_bytes_sum"] - before["gateway_flush_bytes_sum"] == sum(alice_frames)
    assert s["gateway_rejected_invalid_total"] == 1


async def test_two_gateways_in_one_process_keep_their_own_figures(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    first, second = await start_gateway(), await start_gateway()
    async with aio.insecure_channel(f"127.0.0.1:{first.grpc_port}") as channel:
        from gateway.api.v1 import gateway_pb2_grpc as pb_grpc

        await pb_grpc.NotificationGatewayStub(channel).Publish(request(everyone(), id="x"))
    assert (await scrape(http, first.http_port))["gateway_published_total"] == 1
    assert (await scrape(http, second.http_port))["gateway_published_total"] == 0


async def test_the_ops_port_serves_metrics_and_the_public_port_does_not(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(ops_port=0, drain_delay_seconds=0.5)
    assert gateway.ops_port not in (0, gateway.http_port)
    public = f"http://127.0.0.1:{gateway.http_port}"
    ops = f"http://127.0.0.1:{gateway.ops_port}"
    async with http.get(f"{public}/metrics") as response:
        assert response.status == 404
    assert (await scrape(http, gateway.ops_port))["gateway_ready"] == 1
    for base in (public, ops):
        for path in ("/healthz", "/readyz"):
            async with http.get(f"{base}{path}") as response:
                assert response.status == 200, (base, path)
    async with http.get(f"{ops}/ws?user_id=alice") as response:
        assert response.status == 404  # the ops port is not a WebSocket port

    # the ops port stays up through the drain: probes see "draining", scrapes still work
    drain = asyncio.create_task(gateway.drain())
    await asyncio.sleep(0.2)
    async with http.get(f"{ops}/readyz") as response:
        assert response.status == 503
    assert (await scrape(http, gateway.ops_port))["gateway_ready"] == 0
    await drain
    with pytest.raises(aiohttp.ClientConnectionError):
        await http.get(f"{ops}/healthz")


async def test_the_ops_port_closes_a_half_sent_request_at_its_keepalive_deadline(
    start_gateway: StartGateway, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiohttp's default keeps such a socket for an hour; the ops site sets its own."""
    monkeypatch.setattr(ops_site, "KEEPALIVE_TIMEOUT", 0.3)
    gateway = await start_gateway(ops_port=0)
    loop = asyncio.get_running_loop()
    held = [await asyncio.open_connection("127.0.0.1", gateway.ops_port) for _ in range(5)]
    started = loop.time()
    for _, writer in held[1:]:
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # the first sends nothing
    for reader, writer in held:
        assert await asyncio.wait_for(reader.read(), 3) == b""
        writer.close()
    assert 0.25 < loop.time() - started < 2.5
    assert (await scrape(http, gateway.ops_port))["gateway_ready"] == 1


async def test_a_request_the_ops_port_refuses_costs_one_line_and_no_traceback(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = await start_gateway(ops_port=0)
    for payload in (
        b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
    ):
        caplog.clear()
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.ops_port)
        writer.write(payload)
        answer = await asyncio.wait_for(reader.read(), 3)
        writer.close()
        assert answer.startswith(b"HTTP/1.0 400 "), answer[:80]
        assert not [r for r in caplog.records if r.exc_info], caplog.text
        assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


async def test_without_an_ops_port_metrics_stay_on_the_public_port(
    gateway: Gateway, http: aiohttp.ClientSession
) -> None:
    assert gateway.settings.ops_port is None and gateway.ops_port == 0
    assert (await scrape(http, gateway.http_port))["gateway_ready"] == 1


async def test_reflection_lists_and_describes_the_services(gateway: Gateway) -> None:
    def reflect() -> tuple[list[str], list[str]]:
        # what grpcurl does: list the services, then resolve one from the server's descriptors
        with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
            database = ProtoReflectionDescriptorDatabase(channel)
            service = DescriptorPool(database).FindServiceByName(
                "gateway.api.v1.NotificationGateway"
            )
            return list(database.get_services()), [m.name for m in service.methods]

    services, methods = await asyncio.to_thread(reflect)
    assert "gateway.api.v1.NotificationGateway" in services
    assert "grpc.health.v1.Health" in services
    assert {"Publish", "PublishBatch", "PublishStream", "GetPresence", "Disconnect"} <= set(methods)


async def test_reflection_needs_the_publish_token_when_one_is_set(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(publish_tokens="s3cret-token")
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        # Refused at its headers, so the call writes no request: grpc.aio's client turns a
        # write that loses the race with the server's status into its own INTERNAL ("Internal
        # error from Core", grpc/grpc#36066), a few calls in a hundred under load. Unrefused,
        # reflection waits for a request and the timeout fails the test.
        refused = stub.ServerReflectionInfo()
        assert await asyncio.wait_for(refused.code(), 10) == grpc.StatusCode.UNAUTHENTICATED
        assert "publish token" in await refused.details()

        call = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
            metadata=(("authorization", "Bearer s3cret-token"),),
        )
        names = [s.name async for r in call for s in r.list_services_response.service]
        assert "gateway.api.v1.NotificationGateway" in names


def test_an_ops_port_in_use_is_one_configuration_error() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        flags = ["--http-port", "0", "--grpc-port", "0", "--ops-port", str(port)]
        result = subprocess.run(
            [sys.executable, "-m", "gateway", *flags],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
            env=env,
        )
    assert result.returncode == 2
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # no plain traceback
    assert [line["msg"] for line in lines if line["level"] == "error"] == [
        f"configuration error: ops_port: 127.0.0.1:{port} is in use "
        "(another gateway or program listens there)"
    ]
