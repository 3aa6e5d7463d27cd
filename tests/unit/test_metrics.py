"""The core's histogram: Prometheus `le` buckets counted with one bisect."""

from __future__ import annotations

import pytest

from gateway.metrics import Histogram, Metrics


def test_a_value_on_a_bound_falls_in_that_bucket() -> None:
    histogram = Histogram((1, 5, 10))
    for value in (0, 1, 1.5, 5, 10, 11):
        histogram.observe(value)
    assert histogram.counts == [2, 2, 1, 1]  # <=1, (1,5], (5,10], above
    assert histogram.sum == 28.5
    assert histogram.count == 6


def test_observe_many_at_once() -> None:
    histogram = Histogram((0.001, 0.01))
    histogram.observe(0.005, 1000)
    assert histogram.counts == [0, 1000, 0]
    assert histogram.sum == pytest.approx(5.0)


def test_bounds_must_increase() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        Histogram((1, 1, 2))
    with pytest.raises(ValueError, match="strictly increasing"):
        Histogram((2, 1))


def test_every_figure_has_help_text() -> None:
    from dataclasses import fields

    for item in fields(Metrics):
        assert item.metadata.get("help"), item.name
    # each gateway gets its own histograms, not one shared default
    assert Metrics().flush_bytes is not Metrics().flush_bytes


def test_any_figures_dataclass_becomes_families() -> None:
    from dataclasses import dataclass, field

    from gateway.ops.exposition import families

    @dataclass
    class Figures:
        calls: int = field(default=3, metadata={"help": "calls made"})
        lag: float = field(default=0.5, metadata={"help": "lag now", "type": "gauge"})
        by_code: dict[int, int] = field(
            default_factory=lambda: {2: 1}, metadata={"help": "by code", "label": "code"}
        )
        sizes: Histogram = field(
            default_factory=lambda: Histogram((1, 10)), metadata={"help": "sizes"}
        )

    figures = Figures()
    figures.sizes.observe(5)
    out = {f.name: f for f in families(figures, "x_")}
    assert (out["x_calls"].type, out["x_calls"].samples[0].value) == ("counter", 3)
    assert out["x_calls"].samples[0].name == "x_calls_total"
    assert (out["x_lag"].type, out["x_lag"].samples[0].value) == ("gauge", 0.5)
    assert out["x_by_code"].samples[0].labels == {"code": "2"}
    buckets = {s.labels.get("le"): s.value for s in out["x_sizes"].samples if s.labels}
    assert buckets == {"1.0": 0, "10.0": 1, "+Inf": 1}
    assert all(f.documentation for f in out.values())
