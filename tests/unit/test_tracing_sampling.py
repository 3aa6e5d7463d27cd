"""gateway/tracing_sampling.py: a publish its sampler drops gets no span at all, and one
it keeps is sampled exactly as the SDK alone would sample it (same trace id, same rate)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import INVALID_SPAN, Span, get_current_span

from gateway.tracing import Tracing
from gateway.tracing_sampling import Presampler, PrimedIds

#: W3C traceparents of a caller's span, sampled and not.
SAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UNSAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


def tracing_with(sampler: Sampler) -> tuple[Tracing, InMemorySpanExporter]:
    provider = TracerProvider(sampler=sampler, id_generator=PrimedIds())
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider), exporter


def publishes(
    tracing: Tracing, count: int, traceparent: str | None = None
) -> Iterator[tuple[Span, Span, bool]]:
    """Each publish's span, the current span inside it, and whether it recorded."""
    metadata = [("traceparent", traceparent)] if traceparent else []
    for _ in range(count):
        with tracing.publish(metadata) as span:
            yield span, get_current_span(), span.is_recording()


def test_a_dropped_publish_makes_no_span_and_sets_no_context() -> None:
    tracing, exporter = tracing_with(ALWAYS_OFF)
    for span, current, _ in publishes(tracing, 3):
        # the SDK alone made a NonRecordingSpan with a valid (unsampled) context
        assert span is INVALID_SPAN and current is INVALID_SPAN
    assert tracing.traceparent() is None
    assert exporter.get_finished_spans() == ()


def test_a_kept_publish_is_the_sdks_span_with_the_trace_id_its_sampler_was_asked_about() -> None:
    tracing, exporter = tracing_with(TraceIdRatioBased(0.5))
    kept = [span for span, _, recorded in publishes(tracing, 400) if recorded]
    spans = exporter.get_finished_spans()
    # a sampler asked about one id while the span got another would keep ~1 in 4, not 1 in 2
    assert 150 <= len(spans) == len(kept) <= 250
    bound = TraceIdRatioBased.get_bound_for_rate(0.5)
    for span in spans:
        assert span.context is not None
        assert span.context.trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < bound


def test_a_callers_sampled_context_is_kept_and_an_unsampled_one_dropped() -> None:
    tracing, exporter = tracing_with(ParentBased(ALWAYS_OFF))
    ((_, _, recorded),) = publishes(tracing, 1, SAMPLED)
    assert recorded
    ((span, _, _),) = publishes(tracing, 1, UNSAMPLED)
    assert span is INVALID_SPAN
    (finished,) = exporter.get_finished_spans()
    assert finished.parent is not None and finished.parent.span_id == 0xB7AD6B7169203331


class _Coin(Sampler):
    """Not one of the SDK's own: may answer the same question differently."""

    def should_sample(self, *args: object, **kwargs: object) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE)

    def get_description(self) -> str:
        return "coin"


@pytest.mark.parametrize(
    ("sampler", "asked"),
    [
        (ALWAYS_ON, True),
        (ParentBased(TraceIdRatioBased(0.01)), True),
        (_Coin(), False),
        (ParentBased(_Coin()), False),
    ],
)
def test_only_samplers_that_answer_from_their_inputs_are_asked_first(
    sampler: Sampler, asked: bool
) -> None:
    assert (
        Presampler.of(TracerProvider(sampler=sampler, id_generator=PrimedIds())) is not None
    ) == asked
    # nor without primable ids: the SDK would draw a trace id of its own
    assert Presampler.of(TracerProvider(sampler=sampler)) is None


def test_a_dropped_root_leaves_no_drawn_id_behind() -> None:
    ids = PrimedIds()
    presample = Presampler.of(TracerProvider(sampler=ALWAYS_OFF, id_generator=ids))
    assert presample is not None
    assert not presample.records(Context(), {})
    assert ids._next is None
