"""OpenTelemetry traces, end to end: gateways configured only by `OTEL_*` variables export
to a real OTLP/gRPC receiver that the test runs; a test publisher's trace continues
through the publish, the append and every replica's fan-out. The settings, and what tracing
must not change, are in test_tracing_setup.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import pytest
from grpc import aio
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from tests.support.gateway import Connect, StartGateway
from tests.support.helpers import everyone, users
from tests.support.helpers import request as publish_request
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.redis_helpers import ChildGateway, RedisServer, ws_client

SERVER, CONSUMER = 2, 5  # opentelemetry.proto.trace.v1.Span.SpanKind
ERROR = 2  # Status.StatusCode
#: A traced batch's size: one broadcast and the rest to one user each.
BATCH = 40


class TracedPublisher:
    """A backend instrumented with the OpenTelemetry SDK: its `send` span is the parent
    the gateway's `publish` span must name, sent as W3C `traceparent` metadata."""

    def __init__(self, receiver: OtlpReceiver) -> None:
        self.provider = TracerProvider(resource=Resource({"service.name": "test-publisher"}))
        exporter = OTLPSpanExporter(endpoint=receiver.endpoint, insecure=True)
        self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("tests")

    @contextmanager
    def send(self) -> Iterator[tuple[list[tuple[str, str]], str]]:
        """The metadata to publish with, and the `send` span's id (hex)."""
        with self.tracer.start_as_current_span("send") as span:
            carrier: dict[str, str] = {}
            TraceContextTextMapPropagator().inject(carrier)
            yield list(carrier.items()), format(span.get_span_context().span_id, "016x")

    def close(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def publisher(receiver: OtlpReceiver) -> Iterator[TracedPublisher]:
    publisher = TracedPublisher(receiver)
    yield publisher
    publisher.close()


def _one(spans: list[ReceivedSpan], name: str, trace_id: str) -> ReceivedSpan:
    (span,) = [s for s in spans if s.name == name and s.trace_id == trace_id]
    return span


async def test_publish_is_a_child_of_the_callers_span_with_append_and_fan_out(
    receiver: OtlpReceiver,
    publisher: TracedPublisher,
    start_gateway: StartGateway,
    http: aiohttp.ClientSession,
) -> None:
    gateway = await start_gateway()
    assert gateway.tracing.on
    alice = await ws_client(http, gateway.http_port, "alice")
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        with publisher.send() as (metadata, send_id):
            response = await stub.Publish(
                publish_request(users("alice", "bob"), "order.shipped"), metadata=metadata
            )
        await alice.notification()
    trace_id = metadata[0][1].split("-")[1]
    spans = await receiver.wait_for(
        lambda spans: {"publish", "append", "fan-out"} <= {s.name for s in spans}
    )
    publish = _one(spans, "publish", trace_id)
    assert publish.parent_id == send_id and publish.kind == SERVER
    assert publish.attributes["gateway.notification.type"] == "order.shipped"
    assert publish.attributes["gateway.target.kind"] == "users"
    assert publish.attributes["gateway.cursor"] == response.cursor
    assert publish.attributes["gateway.recipients"] == 1
    assert publish.attributes["gateway.backend"] == "memory"
    assert publish.resource["service.name"] == "notification-gateway"
    append = _one(spans, "append", trace_id)
    assert append.parent_id == publish.span_id
    assert append.attributes["gateway.batch.size"] == 1
    fan_out = _one(spans, "fan-out", trace_id)
    assert fan_out.parent_id == publish.span_id and fan_out.kind == CONSUMER
    assert fan_out.links == [(trace_id, publish.span_id)]
    assert fan_out.attributes["gateway.recipients"] == 1
    assert fan_out.attributes["gateway.entries"] == 1
    assert fan_out.attributes["gateway.cursor"] == response.cursor
    assert "gateway.cursor.last" not in fan_out.attributes


async def test_a_batch_is_one_span_a_stream_one_per_item_and_a_refusal_is_an_error(
    receiver: OtlpReceiver,
    publisher: TracedPublisher,
    start_gateway: StartGateway,
    http: aiohttp.ClientSession,
) -> None:
    """A batch's entries are one `fan-out` span, whatever its size (a span per entry made
    a sampled per-user batch cost more than the batch); a stream's items, publishes of
    their own, one each."""
    gateway = await start_gateway()
    tabs = [await ws_client(http, gateway.http_port, name) for name in ("u0", "u1")]
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        per_user = [publish_request(users(f"u{i}"), "c.d") for i in range(BATCH - 1)]
        batch = pb.PublishBatchRequest(requests=[publish_request(everyone(), "a.b"), *per_user])
        with publisher.send() as (batch_metadata, batch_send):
            answer = await stub.PublishBatch(batch, metadata=batch_metadata)
        with publisher.send() as (stream_metadata, stream_send):
            call = stub.PublishStream(metadata=stream_metadata)
            for kind in ("e.one", "e.two"):
                await call.write(publish_request(everyone(), kind))
                await call.read()
            await call.done_writing()
            assert await call.read() is aio.EOF
        with publisher.send() as (bad_metadata, _), pytest.raises(aio.AioRpcError):
            await stub.Publish(publish_request(everyone(), "Not A Type!"), metadata=bad_metadata)
    batch_trace, stream_trace, bad_trace = (
        m[0][1].split("-")[1] for m in (batch_metadata, stream_metadata, bad_metadata)
    )
    for tab in tabs:  # the broadcast, then its own
        assert [(await tab.notification())["notification"]["type"] for _ in range(2)] == [
            "a.b",
            "c.d",
        ]
    spans = await receiver.wait_for(
        lambda spans: (
            sum(s.name == "fan-out" for s in spans) >= 3
            and any(s.trace_id == bad_trace and s.name == "publish" for s in spans)
        )
    )
    batch_span = _one(spans, "publish", batch_trace)
    assert batch_span.parent_id == batch_send
    assert batch_span.attributes["gateway.batch.size"] == BATCH
    assert batch_span.attributes["gateway.notification.type"] == ["a.b", "c.d"]
    assert batch_span.attributes["gateway.target.kind"] == ["everyone", "users"]
    assert batch_span.attributes["gateway.cursor"] == answer.results[0].cursor
    assert batch_span.attributes["gateway.cursor.last"] == answer.results[-1].cursor
    assert batch_span.attributes["gateway.recipients"] == 4  # the broadcast to 2, u0, u1
    fan_out = _one(spans, "fan-out", batch_trace)
    assert fan_out.parent_id == batch_span.span_id and fan_out.kind == CONSUMER
    assert fan_out.links == [(batch_trace, batch_span.span_id)]
    assert fan_out.attributes["gateway.entries"] == BATCH
    assert fan_out.attributes["gateway.recipients"] == 4
    assert fan_out.attributes["gateway.cursor"] == answer.results[0].cursor
    assert fan_out.attributes["gateway.cursor.last"] == answer.results[-1].cursor
    items = [s for s in spans if s.trace_id == stream_trace and s.name == "publish"]
    assert [s.attributes["gateway.notification.type"] for s in items] == ["e.one", "e.two"]
    assert all(s.parent_id == stream_send for s in items)
    fan_outs = [s for s in spans if s.trace_id == stream_trace and s.name == "fan-out"]
    assert sorted(s.parent_id for s in fan_outs) == sorted(s.span_id for s in items)
    assert sorted(s.links[0][1] for s in fan_outs) == sorted(s.span_id for s in items)
    assert [s.attributes["gateway.entries"] for s in fan_outs] == [1, 1]
    refused = _one(spans, "publish", bad_trace)
    assert refused.status_code == ERROR
    assert {s.name for s in spans if s.trace_id == bad_trace} == {"send", "publish"}


async def test_a_malformed_traceparent_is_ignored_and_the_publish_starts_a_trace(
    receiver: OtlpReceiver, start_gateway: StartGateway
) -> None:
    gateway = await start_gateway()
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        for value in ("garbage", "00-" + "0" * 32 + "-" + "1" * 16 + "-01", "ff-" + "x" * 60):
            answer = await stub.Publish(
                publish_request(everyone(), "odd.parent"),
                metadata=[("traceparent", value), ("tracestate", "=" * 600)],
            )
            assert answer.cursor
    spans = await receiver.wait_for(lambda spans: len(receiver.named("publish")) == 3)
    publishes = [s for s in spans if s.name == "publish"]
    assert all(s.parent_id == "" for s in publishes)  # new roots, not children of junk
    assert len({s.trace_id for s in publishes}) == 3


async def test_an_unsampled_caller_makes_no_spans_and_its_entry_carries_no_trace(
    receiver: OtlpReceiver, start_gateway: StartGateway, connect: Connect
) -> None:
    gateway = await start_gateway()
    start = gateway.log.head()
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        unsampled = "00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
        sampled = "00-2af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        await stub.Publish(publish_request(everyone()), metadata=[("traceparent", unsampled)])
        await stub.Publish(publish_request(everyone()), metadata=[("traceparent", sampled)])
    await receiver.wait_for(lambda spans: any(s.name == "fan-out" for s in spans))
    assert {s.trace_id for s in receiver.spans} == {sampled.split("-")[1]}
    replay = await gateway.log.read_since(start, gateway.log.head())
    first, second = replay.entries
    assert first.trace is None
    assert second.trace is not None and second.trace.split("-")[1] == sampled.split("-")[1]


async def test_a_trace_crosses_two_replicas_on_redis(
    receiver: OtlpReceiver,
    publisher: TracedPublisher,
    redis_server: RedisServer,
    http: aiohttp.ClientSession,
) -> None:
    """Two `python -m gateway` processes on one redis-server, configured only by the
    OTEL_* variables they inherit: the publish on one reaches alice on both, and each
    replica's fan-out is a child of, and links to, the publish it came from. A batch's
    entries, read off Redis by each replica's feed, make a span per run of them there,
    not one per entry."""
    replicas = [ChildGateway(redis_server.url), ChildGateway(redis_server.url)]
    try:
        for replica in replicas:
            await replica.ready(http, within=60)  # a loaded machine starts them slowly
        tabs = [await ws_client(http, replica.http_port, "alice") for replica in replicas]
        async with aio.insecure_channel(f"127.0.0.1:{replicas[0].grpc_port}") as channel:
            stub = pb_grpc.NotificationGatewayStub(channel)
            with publisher.send() as (metadata, send_id):
                response = await stub.Publish(
                    publish_request(users("alice"), "invoice.paid"), metadata=metadata
                )
            batch = pb.PublishBatchRequest(
                requests=[publish_request(users("alice"), "invoice.sent")] * BATCH
            )
            with publisher.send() as (batch_metadata, _):
                answer = await stub.PublishBatch(batch, metadata=batch_metadata)
        for tab in tabs:
            assert (await tab.notification())["cursor"] == response.cursor
            for result in answer.results:
                assert (await tab.notification())["cursor"] == result.cursor
        trace_id = metadata[0][1].split("-")[1]
        batch_trace = batch_metadata[0][1].split("-")[1]

        def entries_of(spans: list[ReceivedSpan]) -> int:
            return sum(
                s.attributes["gateway.entries"]
                for s in spans
                if s.name == "fan-out" and s.trace_id == batch_trace
            )

        spans = await receiver.wait_for(
            lambda spans: (
                sum(s.name == "fan-out" and s.trace_id == trace_id for s in spans) == 2
                and sum(s.name == "append" for s in spans) == 2
                and entries_of(spans) == 2 * BATCH
            )
        )
    finally:
        for replica in replicas:
            replica.stop()
    publish = _one(spans, "publish", trace_id)
    assert publish.parent_id == send_id
    assert publish.attributes["gateway.backend"] == "redis"
    assert publish.attributes["gateway.recipients"] == 1  # alice's tab on this replica
    assert publish.attributes["gateway.cursor"] == response.cursor
    assert _one(spans, "append", trace_id).parent_id == publish.span_id
    fan_outs = [s for s in spans if s.name == "fan-out" and s.trace_id == trace_id]
    instances = {s.resource["service.instance.id"] for s in fan_outs}
    assert len(instances) == 2 and publish.resource["service.instance.id"] in instances
    for fan_out in fan_outs:
        assert fan_out.parent_id == publish.span_id
        assert fan_out.links == [(trace_id, publish.span_id)]
        assert fan_out.attributes["gateway.recipients"] == 1
        assert fan_out.attributes["gateway.entries"] == 1
        assert fan_out.attributes["gateway.cursor"] == response.cursor
    batch_publish = _one(spans, "publish", batch_trace)
    for instance in instances:
        runs = [
            s
            for s in spans
            if s.name == "fan-out"
            and s.trace_id == batch_trace
            and s.resource["service.instance.id"] == instance
        ]
        # one run unless the replica stalled mid-batch (a loaded machine): far from BATCH
        assert 1 <= len(runs) <= BATCH // 10, [s.attributes for s in runs]
        assert sum(s.attributes["gateway.entries"] for s in runs) == BATCH
        assert sum(s.attributes["gateway.recipients"] for s in runs) == BATCH
        assert {s.attributes["gateway.cursor"] for s in runs} >= {answer.results[0].cursor}
        for run in runs:
            assert run.parent_id == batch_publish.span_id
            assert run.links == [(batch_trace, batch_publish.span_id)]
