"""The Prometheus exposition: a collector that reads the core's figures at scrape time.

The core keeps plain integers and `Histogram`s (`gateway.metrics`); nothing on the hot
path touches prometheus-client. At each scrape `GatewayCollector` turns every field of
`Metrics` into a family (`gateway_<name>_total` for counters, `gateway_<name>` for
histograms, HELP from the field's metadata), adds two gauges, and does the same for the
log's `BackendStats` under `gateway_backend_`. `make_registry` puts it
in a registry of its own (not the global one, so several gateways in one process do not
clash) with the standard process, GC and platform collectors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gateway.metrics import Histogram, ReceiptStats
from gateway.service import NotificationService
from gateway.types import TypesStats

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["GatewayCollector", "families", "make_registry", "render"]


_NO_RECEIPTS = ReceiptStats()


class GatewayCollector(Collector):
    """Reads the service's counters, histograms and state; changes nothing."""

    def __init__(self, service: NotificationService) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        service = self._service
        yield from families(service.metrics)
        yield GaugeMetricFamily(
            "gateway_connections", "Open WebSocket connections.", value=len(service.hub)
        )
        yield GaugeMetricFamily(
            "gateway_ready",
            "1 while accepting work, 0 while draining.",
            value=float(service.accepting),
        )
        yield GaugeMetricFamily(
            "gateway_backend_up",
            "1 while the log's store answers (always 1 for the memory log; a sharded "
            "log: while any shard does, see gateway_backend_shards_down).",
            value=float(service.log.healthy),
        )
        yield from families(service.log.stats, "gateway_backend_")
        # receipts (issue 17): zeros while off, so every gateway exposes the same families
        receipts = service.receipts
        yield from families(_NO_RECEIPTS if receipts is None else receipts.stats)
        yield from _types_families(service)


def _types_families(service: NotificationService) -> Iterator[Metric]:
    """The type registry's figures (issue 16), and its hash as an info-style gauge so that
    replicas running different registries show up side by side."""
    types = service.types
    # zeros without a registry, as receipts do: every gateway exposes the same families
    yield from families(_NO_TYPES if types is None else types.stats, "gateway_types_")
    info = GaugeMetricFamily(
        "gateway_types_registry",
        "1, labelled with the hash of the type registry in force (empty without one) and its mode.",
        labels=["hash", "mode"],
    )
    if types is None:
        info.add_metric(["", "off"], 1)
    else:
        info.add_metric([types.snapshot.hash, types.mode], 1)
    yield info


_NO_TYPES = TypesStats()


def families(figures: DataclassInstance, prefix: str = "gateway_") -> Iterator[Metric]:
    """One family per field of a figures dataclass, HELP from `metadata["help"]`.

    An int or float is a counter (`<prefix><name>_total`), or a gauge when the metadata
    says `"type": "gauge"`; a dict is a counter labelled `metadata["label"]` (or, with
    `"histograms": True`, a histogram per label value); a
    `Histogram` a histogram. Any dataclass of the core written this way is exposed as is.
    """
    for item in fields(figures):
        name = f"{prefix}{item.name}"
        help_text: str = item.metadata["help"]
        value = getattr(figures, item.name)
        if isinstance(value, Histogram):
            yield _histogram(name, help_text, value)
        elif isinstance(value, dict) and item.metadata.get("histograms"):
            # receipts (issue 17): a histogram per notification type (a bounded label set)
            yield _labelled_histograms(name, help_text, item.metadata["label"], value)
        elif isinstance(value, dict):
            family = CounterMetricFamily(name, help_text, labels=[item.metadata["label"]])
            for key, count in sorted(value.items()):
                family.add_metric([str(key)], count)
            yield family
        elif item.metadata.get("type") == "gauge":
            yield GaugeMetricFamily(name, help_text, value=value)
        else:
            yield CounterMetricFamily(name, help_text, value=value)


def _histogram(name: str, help_text: str, histogram: Histogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(
        name, help_text, buckets=_cumulative(histogram), sum_value=histogram.sum
    )


def _labelled_histograms(
    name: str, help_text: str, label: str, histograms: dict[str, Histogram]
) -> HistogramMetricFamily:
    """One histogram family with a sample set per label value (receipts' by type)."""
    family = HistogramMetricFamily(name, help_text, labels=[label])
    for value, histogram in sorted(histograms.items()):
        family.add_metric([value], _cumulative(histogram), histogram.sum)
    return family


def _cumulative(histogram: Histogram) -> list[tuple[str, float]]:
    # one pass on the loop thread: the counts cannot move while they are summed
    buckets: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip(histogram.bounds, histogram.counts, strict=False):
        total += count
        buckets.append((repr(float(bound)), total))
    total += histogram.counts[-1]
    buckets.append(("+Inf", total))
    return buckets


def make_registry(service: NotificationService) -> CollectorRegistry:
    """A registry of this gateway's figures plus `process_*`, `python_gc_*`, `python_info`."""
    registry = CollectorRegistry()
    registry.register(GatewayCollector(service))
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    """The body and Content-Type for a scrape: OpenMetrics when `accept` asks for it."""
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type
