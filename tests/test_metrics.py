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
