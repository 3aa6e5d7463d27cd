"""OpenTelemetry traces: the one place the gateway talks to the OpenTelemetry SDK.

Configured only by the standard `OTEL_*` variables (`from_environ`): on when
`OTEL_TRACES_EXPORTER=otlp` (or `console`), or when no exporter is named and
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; off otherwise,
and off whatever else is set when `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
The SDK itself reads the rest (sampler, endpoint, headers, batch sizes, resource).

Off, nothing of OpenTelemetry is imported and every caller's only cost is one check of
`Tracing.on` (or of `Entry.trace`, which is None unless some replica traced the publish);
the gRPC edge's interceptor is not even installed.

What a traced publish makes, one trace from the publisher's `traceparent` to every replica:

- `publish` (SERVER): child of the caller's `traceparent`; the notification's type, target
  kind, cursor, the connections it was handed to on this replica, the backend;
- `append` (INTERNAL): the log call, with the batch size and backend;
- `fan-out` (CONSUMER), on every replica that hands the publish's entries to its
  connections: one per run of them (entries carrying the same `Entry.trace` handed out in
  a row; per shard's feed on a sharded log), not one per entry, so a sampled batch costs
  a span or two, whatever its size. Its parent is the `publish` span (the context stored
  with the entry) and it links to it, as the messaging conventions ask of a consumer
  span, with the entries and recipients there.

The entry carries the `publish` span's traceparent only when that span is sampled: an
unsampled publish costs the log and the other replicas nothing.

Each `Gateway` has its own `TracerProvider` (not the process-global one), so several
gateways in one process keep apart, and `close()` flushes what is still queued.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import time_ns
from typing import TYPE_CHECKING, Any

from gateway.config import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from gateway.log.base import Entry
    from gateway.tracing_sampling import Presampler

__all__ = ["CLOSE_TIMEOUT", "OFF", "Tracing", "tracing_wanted"]

log = logging.getLogger("gateway.tracing")

#: How long stopping waits for the last spans to be exported (seconds).
CLOSE_TIMEOUT = 1.0

#: A `fan-out` span's run ends once it has had no entry for this long (seconds): long
#: enough that a follower's feed, reading a batch's entries off Redis, keeps them in one
#: span. The span ends at its last entry's time, so the wait shows in no span.
RUN_IDLE = 0.05

#: What `OTEL_SERVICE_NAME` defaults to (the SDK's own default is `unknown_service`).
SERVICE_NAME = "notification-gateway"
_EXPORTERS = ("otlp", "console")
_TRUE = ("true", "1", "yes", "on")


def tracing_wanted(environ: Mapping[str, str]) -> bool:
    """Whether the `OTEL_*` variables ask for traces (see the module docstring).

    Raises `ConfigError` for an exporter or protocol this gateway does not ship, so a
    typo stops the start instead of silently dropping every span.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return False
    exporters = [
        name.strip().lower()
        for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",")
        if name.strip()
    ]
    if exporters == ["none"]:
        return False
    unknown = [name for name in exporters if name not in _EXPORTERS]
    if unknown:
        raise ConfigError(
            "OTEL_TRACES_EXPORTER",
            f"{','.join(unknown)} is not available here: use otlp (gRPC), console or none",
        )
    if "otlp" in exporters or (
        not exporters
        and (
            environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        )
    ):
        protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
        )
        if protocol.strip().lower() != "grpc":
            raise ConfigError(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                f"{protocol!r} is not available here: the gateway exports OTLP over grpc",
            )
        return True
    return bool(exporters)


class Tracing:
    """Spans for the publish path, or nothing at all (`OFF`): check `on` before any call."""

    __slots__ = ("_backend", "_fields", "_presample", "_provider", "_runs", "_tracer", "on")

    def __init__(self, provider: TracerProvider | None = None, backend: str = "memory") -> None:
        self._provider = provider
        self._tracer: Tracer | None = None
        #: The metadata keys the configured propagators read (traceparent, tracestate, ...).
        self._fields: frozenset[str] = frozenset()
        #: Asks the sampler before a publish span is made (see `publish`), or None.
        self._presample: Presampler | None = None
        if provider is not None:
            from opentelemetry import propagate

            from gateway.tracing_sampling import Presampler

            self._tracer = provider.get_tracer("gateway.tracing")
            self._fields = frozenset(propagate.get_global_textmap().fields)
            self._presample = Presampler.of(provider)
        self._backend = backend
        #: The open `fan-out` span's run per feed: None for `deliver`, the shard's index
        #: for a sharded log's `deliver_shard`.
        self._runs: dict[int | None, _Run] = {}
        #: Whether spans are made; False means no caller should call anything else here.
        self.on = provider is not None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, backend: str) -> Tracing:
        """`OFF` unless the `OTEL_*` variables ask for traces; then a provider of its own
        that exports in batches from a background thread (the SDK's BatchSpanProcessor)."""
        if not tracing_wanted(environ):
            return OFF
        try:  # reads OTEL_PROPAGATORS once: a name it cannot load stops the start here
            from opentelemetry import propagate  # noqa: F401
        except ValueError as exc:
            raise ConfigError("OTEL_PROPAGATORS", str(exc)) from None
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

        from gateway.tracing_sampling import PrimedIds

        exporters = environ.get("OTEL_TRACES_EXPORTER", "otlp").lower()
        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by the SDK, win over our
        # name; the SDK gives each process a random service.instance.id
        resource = Resource.create()
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
        # its trace ids drawn ahead when a publish asks its sampler first (tracing_sampling)
        provider = TracerProvider(resource=resource, id_generator=PrimedIds())
        chosen: list[SpanExporter] = []
        if "otlp" in exporters or not environ.get("OTEL_TRACES_EXPORTER"):
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            chosen.append(OTLPSpanExporter())
        if "console" in exporters:
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            chosen.append(ConsoleSpanExporter())
        for exporter in chosen:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider, backend)

    async def close(self, within: float = CLOSE_TIMEOUT) -> None:
        """Export what is queued and stop the exporter, waiting at most `within` seconds:
        an unreachable collector makes the SDK retry for many seconds, and a drain must end
        within its grace period. What is still queued then is dropped (one warning)."""
        provider = self._provider
        if provider is None:
            return
        for shard, run in list(self._runs.items()):
            self._end(shard, run)
        done = threading.Event()

        def shutdown() -> None:
            try:
                provider.shutdown()
            finally:
                done.set()

        # a daemon thread, as the SDK's exporter thread is: neither holds the exit up
        threading.Thread(target=shutdown, name="tracing-shutdown", daemon=True).start()
        if not await asyncio.to_thread(done.wait, within):
            log.warning(
                "spans not exported within %.1f s of stopping were dropped "
                "(is the OTLP endpoint reachable?)",
                within,
            )

    # -- the gRPC edge -------------------------------------------------------------------

    @contextmanager
    def publish(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> Iterator[Span]:
        """The current `publish` span for one publish call, child of the caller's context
        (W3C `traceparent`/`tracestate` in `metadata`, read by the configured propagator).

        A call its sampler drops gets no span at all (`INVALID_SPAN`, made current never):
        the SDK's non-recording span and its context cost ~100k instructions a call
        (scripts/profile-unary), 99 calls in 100 at 1%, for a span nobody sees. Nothing
        after it can tell: the entry carries a trace only when sampled (`traceparent`),
        and the attributes are set only on a recording span."""
        from opentelemetry import propagate
        from opentelemetry.trace import INVALID_SPAN, SpanKind

        fields = self._fields
        carrier = {k: v for k, v in metadata or () if k in fields and isinstance(v, str)}
        tracer = self._require()
        # no trace context sent (most publishes): a root span, without asking the
        # propagators to read nothing
        context = propagate.extract(carrier) if carrier else None
        attributes = {"gateway.backend": self._backend, "rpc.system": "grpc"}
        presample = self._presample
        if presample is not None and not presample.records(context, attributes):
            yield INVALID_SPAN
            return
        with tracer.start_as_current_span(
            "publish", context=context, kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            yield span

    @staticmethod
    def published(
        span: Span,
        types: Sequence[str],
        kinds: Sequence[str],
        cursors: Sequence[str],
        recipients: int,
    ) -> None:
        """What one publish (or batch) became: set on its `publish` span. Call it only when
        `span.is_recording()` (sampled): the caller's arguments are the costly part."""
        attributes: dict[str, Any] = {"gateway.recipients": recipients}
        if len(types) == 1:
            attributes["gateway.notification.type"] = types[0]
            attributes["gateway.target.kind"] = kinds[0]
        else:
            attributes["gateway.batch.size"] = len(types)
            attributes["gateway.notification.type"] = sorted(set(types))
            attributes["gateway.target.kind"] = sorted(set(kinds))
        if cursors:
            attributes["gateway.cursor"] = cursors[0]
            if len(cursors) > 1:
                attributes["gateway.cursor.last"] = cursors[-1]
        span.set_attributes(attributes)

    # -- the service ---------------------------------------------------------------------

    def traceparent(self) -> str | None:
        """The current span's W3C traceparent if it is sampled (what an entry carries)."""
        from opentelemetry.trace import get_current_span

        context = get_current_span().get_span_context()
        if not context.is_valid or not context.trace_flags.sampled:
            return None
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"

    @contextmanager
    def append(self, count: int) -> Iterator[Span]:
        """The `append` span around one log call of `count` drafts."""
        attributes: dict[str, str | int] = {
            "gateway.backend": self._backend,
            "gateway.batch.size": count,
        }
        with self._require().start_as_current_span("append", attributes=attributes) as span:
            yield span

    def fan_out(
        self, entry: Entry, deliver: Callable[[Entry], int], shard: int | None = None
    ) -> int:
        """`deliver(entry)`, with `entry.trace` taken off, counted into its run's `fan-out`
        span: the entries of one publish call (one traceparent) this replica hands out in a
        row, on one shard's feed (`shard`) when the log shards. A span per entry cost a few
        hundred µs each, so a sampled batch of 1,000 per-user entries cost more than the
        batch; a span per run makes the cost follow the publish calls."""
        started = time_ns()
        count = deliver(entry._replace(trace=None))
        run = self._runs.get(shard)
        if run is None or run.trace != entry.trace:
            if run is not None:  # another publish's entry: that run is over
                self._end(shard, run)
            run = self._open(entry, shard, started)
        run.entries += 1
        run.recipients += count
        run.last_cursor = entry.cursor
        run.last = time_ns()
        return count

    def _open(self, entry: Entry, shard: int | None, started: int) -> _Run:
        """A run's `fan-out` span: a child of, and linked to, the publish that made `entry`
        (whichever replica made it), as the messaging conventions ask of a consumer span."""
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        publish = TraceContextTextMapPropagator().extract({"traceparent": entry.trace or ""})
        parent = trace.get_current_span(publish).get_span_context()
        attributes: dict[str, str | int] = {"gateway.backend": self._backend}
        if shard is not None:
            attributes["gateway.shard"] = shard
        span = self._require().start_span(
            "fan-out",
            context=publish,
            kind=trace.SpanKind.CONSUMER,
            links=[trace.Link(parent)] if parent.is_valid else [],
            attributes=attributes,
            start_time=started,
        )
        run = self._runs[shard] = _Run(entry.trace, span, entry.cursor)
        # the log delivers on the event loop (its contract): the run ends from there
        asyncio.get_running_loop().call_later(RUN_IDLE, self._idle, shard, run)
        return run

    def _idle(self, shard: int | None, run: _Run) -> None:
        if self._runs.get(shard) is not run:
            return  # ended already, by another publish's entry
        wait = run.last + int(RUN_IDLE * 1e9) - time_ns()
        if wait > 0:
            asyncio.get_running_loop().call_later(wait / 1e9, self._idle, shard, run)
            return
        self._end(shard, run)

    def _end(self, shard: int | None, run: _Run) -> None:
        del self._runs[shard]
        attributes: dict[str, str | int] = {
            "gateway.entries": run.entries,
            "gateway.recipients": run.recipients,
            "gateway.cursor": run.cursor,
        }
        if run.entries > 1:
            attributes["gateway.cursor.last"] = run.last_cursor
        run.span.set_attributes(attributes)
        # its last entry's time: the idle wait shows in no span
        run.span.end(end_time=run.last)

    def _require(self) -> Tracer:
        if self._tracer is None:
            raise RuntimeError("tracing is off: check Tracing.on first")
        return self._tracer


class _Run:
    """One `fan-out` span's entries so far: one publish call's, handed out here in a row."""

    __slots__ = ("cursor", "entries", "last", "last_cursor", "recipients", "span", "trace")

    def __init__(self, trace: str | None, span: Span, cursor: str) -> None:
        self.trace = trace
        self.span = span
        self.cursor = self.last_cursor = cursor
        self.entries = self.recipients = 0
        #: When its last entry was handed out (ns since the epoch, as spans count time).
        self.last = 0


#: Tracing off: the default of every collaborator that takes one.
OFF = Tracing()
