"""A publish's sampling decision before its span: no span at all for a dropped call.

The SDK decides inside `start_span`, so a call its sampler drops still gets a trace id, a
span id, a `NonRecordingSpan` made current and detached again (~100k instructions of a
~600k unary Publish, scripts/profile-unary). `Presampler.records` asks the same sampler
the same question first; `Tracing.publish` makes the span only when the answer is yes,
and the SDK then asks again and must hear the same answer. So:

- the trace id the sampler is asked about is the one the span gets: a root span's is
  drawn here, from the provider's `PrimedIds`, which hands it to the SDK next;
- only samplers that answer from their inputs alone are asked twice: the SDK's own
  (always on/off, trace-id ratio, parent-based on those: what `OTEL_TRACES_SAMPLER`
  names). Any other (a plugin's, a rate limiter) keeps the SDK's own single decision.

Imported only with tracing on (it imports the SDK).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind, get_current_span

__all__ = ["Presampler", "PrimedIds"]

_DELEGATES = (
    "_root",
    "_remote_parent_sampled",
    "_remote_parent_not_sampled",
    "_local_parent_sampled",
    "_local_parent_not_sampled",
)


class PrimedIds(RandomIdGenerator):
    """The SDK's random ids; a trace id drawn ahead (`draw`) is the next one handed out."""

    def __init__(self) -> None:
        self._next: int | None = None

    def draw(self) -> int:
        trace_id = self._next = super().generate_trace_id()
        return trace_id

    def drop(self) -> None:
        self._next = None

    def generate_trace_id(self) -> int:
        trace_id, self._next = self._next, None
        return super().generate_trace_id() if trace_id is None else trace_id


def deterministic(sampler: Sampler) -> bool:
    """Whether `sampler` answers from its inputs alone (asked twice, it says the same)."""
    if type(sampler) in (StaticSampler, TraceIdRatioBased):
        return True
    if isinstance(sampler, ParentBased):
        delegates = [getattr(sampler, name, None) for name in _DELEGATES]
        return all(d is not None and deterministic(d) for d in delegates)
    return False


class Presampler:
    """Asks a provider's sampler about a `publish` span before it is made."""

    def __init__(self, sampler: Sampler, ids: PrimedIds) -> None:
        self._sampler = sampler
        self._ids = ids

    @classmethod
    def of(cls, provider: TracerProvider) -> Presampler | None:
        """One for `provider`, or None when its ids are not primable or its sampler might
        answer twice differently."""
        ids = provider.id_generator
        sampler = provider.sampler
        if not isinstance(ids, PrimedIds) or not deterministic(sampler):
            return None
        return cls(sampler, ids)

    def records(self, context: Context | None, attributes: Mapping[str, Any]) -> bool:
        """Whether a `publish` span started in `context` with `attributes` would record.
        Yes: a root span's trace id is drawn, and the next span started takes it."""
        parent = get_current_span(context).get_span_context()
        trace_id = parent.trace_id if parent.is_valid else self._ids.draw()
        result = self._sampler.should_sample(
            context, trace_id, "publish", SpanKind.SERVER, attributes, ()
        )
        if result.decision is not Decision.DROP:
            return True
        self._ids.drop()
        return False
