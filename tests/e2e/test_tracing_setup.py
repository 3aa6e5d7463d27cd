"""OpenTelemetry traces, end to end: the `OTEL_*` settings that turn tracing on or stop the
start, and what tracing must not change (a drain, undecodable bytes, a collector that does
not answer). The spans of a publish are in test_tracing.py."""

from __future__ import annotations

import asyncio
import os

import grpc
import pytest
from grpc import aio

from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from gateway.config import ConfigError
from gateway.tracing import tracing_wanted
from tests.support.gateway import Connect, StartGateway
from tests.support.helpers import everyone, users
from tests.support.helpers import request as publish_request
from tests.support.otlp_receiver import OtlpReceiver

ERROR = 2  # Status.StatusCode


def test_the_otel_variables_decide_and_a_typo_stops_the_start() -> None:
    assert not tracing_wanted({})
    assert not tracing_wanted({"OTEL_SERVICE_NAME": "gw", "OTEL_TRACES_SAMPLER": "always_on"})
    assert tracing_wanted({"OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing_wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"})
    assert tracing_wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"})
    assert tracing_wanted({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing_wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"})
    assert not tracing_wanted({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER: zipkin is not available"):
        tracing_wanted({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf'"):
        tracing_wanted(
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
        )


async def test_off_without_otel_variables(
    gateway: Gateway, stub: pb_grpc.NotificationGatewayStub, connect: Connect
) -> None:
    assert not gateway.tracing.on
    alice = await connect("alice")
    start = gateway.log.head()
    metadata = [("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    await stub.Publish(publish_request(users("alice")), metadata=metadata)
    await alice.notification()
    (entry,) = (await gateway.log.read_since(start, gateway.log.head())).entries
    assert entry.trace is None


async def test_a_drain_ends_the_open_fan_out_run_and_exports_it(
    receiver: OtlpReceiver, start_gateway: StartGateway
) -> None:
    """A run's span ends once its feed is idle; a replica that stops sooner ends it then,
    so the last publish's fan-out is not lost with the process."""
    gateway = await start_gateway()
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        traceparent = "00-3af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        await stub.Publish(publish_request(everyone()), metadata=[("traceparent", traceparent)])
    await gateway.drain()
    await receiver.wait_for(lambda spans: any(s.name == "fan-out" for s in spans), within=5)
    (fan_out,) = receiver.named("fan-out")
    assert fan_out.trace_id == traceparent.split("-")[1]
    assert fan_out.attributes["gateway.entries"] == 1


async def test_a_bad_otel_setting_is_one_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support.helpers import gateway_process

    env = {**os.environ, "OTEL_TRACES_EXPORTER": "jaeger", "GATEWAY_HTTP_PORT": "0"}
    proc = await gateway_process(env=env)
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "configuration error: OTEL_TRACES_EXPORTER: jaeger" in lines[0]


async def test_a_propagator_that_is_not_installed_is_one_configuration_error() -> None:
    from tests.support.helpers import gateway_process

    env = {**os.environ, "OTEL_TRACES_EXPORTER": "otlp", "OTEL_PROPAGATORS": "b3"}
    env.update(GATEWAY_HTTP_PORT="0", GATEWAY_GRPC_PORT="0")
    proc = await gateway_process(env=env)
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "configuration error: OTEL_PROPAGATORS: Propagator b3" in lines[0]


async def test_with_tracing_on_undecodable_bytes_are_still_invalid_argument(
    receiver: OtlpReceiver, start_gateway: StartGateway
) -> None:
    """The interceptor wraps what the decode guard registered: its marker is refused, never
    read as a request (unary, batch and stream alike), and the span says ERROR."""
    gateway = await start_gateway()
    truncated = b"\x0a\x05ab"  # field 1 announces 5 bytes, 2 follow
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        for method in ("Publish", "PublishBatch"):
            call = channel.unary_unary(
                f"/gateway.api.v1.NotificationGateway/{method}",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            with pytest.raises(aio.AioRpcError) as refused:
                await call(truncated)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        stream = channel.stream_stream(
            "/gateway.api.v1.NotificationGateway/PublishStream",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )()
        await stream.write(publish_request(everyone(), "a.b").SerializeToString())
        await stream.read()
        await stream.write(truncated)
        with pytest.raises(aio.AioRpcError) as refused:
            await stream.read()
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    spans = await receiver.wait_for(lambda spans: len(receiver.named("publish")) == 4)
    assert sorted(s.status_code for s in spans if s.name == "publish") == [0, ERROR, ERROR, ERROR]


async def test_a_collector_that_does_not_answer_does_not_hold_the_drain_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK retries an unreachable endpoint for many seconds; stopping waits at most
    `CLOSE_TIMEOUT` for it, then drops what is queued with one warning."""
    from gateway.config import Settings
    from tests.support.helpers import free_port

    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    gateway = Gateway(Settings(http_port=0, grpc_port=0, grace_seconds=2.0))
    await gateway.start()
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        await stub.Publish(publish_request(everyone()))
    await gateway.drain()
    dropped = [r for r in caplog.records if r.name == "gateway.tracing"]
    assert len(dropped) == 1 and "were dropped" in dropped[0].getMessage()
