"""A real OTLP/gRPC trace receiver for the tracing tests: `opentelemetry-proto`'s
TraceService on a free port, keeping every span it is sent (with its resource).

It serves from threads of its own, not from the test's event loop: exporters block
while they send (the SDK's batch thread, a test's own synchronous span processor), and
a receiver on the blocked loop could not answer them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as otlp
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as otlp_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    #: (trace id, span id) of each link, hex.
    links: list[tuple[str, str]]
    status_code: int
    #: The exporting process's resource attributes (service.name, service.instance.id).
    resource: dict[str, Any]

    @classmethod
    def of(cls, span: Span, resource: dict[str, Any]) -> ReceivedSpan:
        return cls(
            name=span.name,
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            parent_id=span.parent_span_id.hex(),
            kind=span.kind,
            attributes={a.key: _value(a.value) for a in span.attributes},
            links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
            status_code=span.status.code,
            resource=resource,
        )


class OtlpReceiver(otlp_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        """The standard variables that point a process's traces here, exported promptly."""
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }

    def start(self) -> None:
        server = grpc.server(ThreadPoolExecutor(max_workers=4))
        otlp_grpc.add_TraceServiceServicer_to_server(self, server)  # type: ignore[no-untyped-call]
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(None)

    def Export(
        self, request: otlp.ExportTraceServiceRequest, context: Any
    ) -> otlp.ExportTraceServiceResponse:
        received = [
            ReceivedSpan.of(span, {a.key: _value(a.value) for a in group.resource.attributes})
            for group in request.resource_spans
            for scope_spans in group.scope_spans
            for span in scope_spans.spans
        ]
        with self._lock:
            self.spans = [*self.spans, *received]
        return otlp.ExportTraceServiceResponse()

    async def wait_for(
        self, done: Callable[[list[ReceivedSpan]], bool], within: float = 10.0
    ) -> list[ReceivedSpan]:
        """The spans received once `done(spans)` holds; fails after `within` seconds."""
        try:
            async with asyncio.timeout(within):
                # spans arrive on the receiver's threads: polled, not awaited as an event
                while not done(self.spans):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        except TimeoutError:
            names = [(s.name, s.resource.get("service.instance.id")) for s in self.spans]
            raise AssertionError(f"the spans expected did not arrive; got {names}") from None
        return self.spans

    def named(self, name: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.name == name]
