"""scripts/bench's receipts scenario charges every ack: the arithmetic of its figures (the
charged ratio checked against 0.85, the wall-clock and CPU ratios beside it), the histogram
with the warm-up taken out, and `--perf`'s reading of `perf stat --per-thread -x ,`."""

from __future__ import annotations

import sys

import pytest

from tests.support.helpers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

from bench import parse_args
from benchkit import perfwatch
from benchkit.scenarios import receipts


def _run(rate: float, charged: float, us: float, frames: float | None = None) -> dict[str, object]:
    m: dict[str, object] = {
        "notifications_per_s": rate,
        "charged": {"per_s": charged, "server_us": us, "server_sys_us": us / 2},
        "loadavg": [1.0, 2.0],
    }
    if frames is not None:
        m["ack_frames"] = {"per_n": frames, "after_per_n": 0.02}
    return m


def test_the_checked_ratio_is_the_charged_one_not_the_wall_clock() -> None:
    off = _run(100.0, 100.0, 10.0)
    on = _run(95.0, 80.0, 12.5, 0.2)  # fast in the window, but its acks came after it
    every = _run(60.0, 59.0, 16.0, 1.0)
    runs = {"gateway": [off, off], "receipts": [on, _run(90.0, 90.0, 11.0, 0.2)]}
    runs["receipts0"] = [every, every]
    results = {"gateway": off, "receipts": on, "receipts0": every}
    out = receipts.compare(results, runs)
    assert out is not None
    assert out["target"] == receipts.TARGET == 0.85
    assert out["ratio"] == pytest.approx(0.8)  # charged, not 0.95 (wall clock)
    assert out["receipts"]["wall_ratio"] == pytest.approx(0.95)
    assert out["receipts"]["cpu_ratio"] == pytest.approx(0.8)  # off us / on us
    assert out["receipts"]["rounds"] == pytest.approx([0.8, 0.9])
    assert out["receipts0"]["ratio"] == pytest.approx(0.59)
    assert out["receipts0"]["ack_frames_per_n"] == 1.0
    assert receipts.compare({"receipts": on}, runs) is None  # no receipts-off run


def test_the_warm_ups_observations_are_taken_out_of_the_histogram() -> None:
    text = "\n".join(
        [
            'gateway_delivery_seconds_bucket{type="a",le="0.1"} 10',
            'gateway_delivery_seconds_bucket{type="b",le="0.1"} 5',
            'gateway_delivery_seconds_bucket{type="a",le="1.0"} 20',
            'gateway_delivery_seconds_bucket{type="a",le="+Inf"} 20',
            'gateway_delivery_seconds_bucket{type="b",le="+Inf"} 5',
            "gateway_acks_applied_total 7",
        ]
    )
    after = receipts._buckets(text)
    assert after == [(0.1, 15.0), (1.0, 20.0), (float("inf"), 25.0)]
    before = [(0.1, 5.0), (1.0, 5.0), (float("inf"), 5.0)]
    window = receipts._minus(after, before)
    assert window == [(0.1, 10.0), (1.0, 15.0), (float("inf"), 20.0)]
    assert receipts._count(window) == 20
    q = receipts._quantiles(window)
    assert q["p50"] == pytest.approx(100.0)  # rank 10 of 20: the first bucket's top
    assert q["p99"] == pytest.approx(1000.0)  # rank 19.8: in the +Inf bucket, its floor


def test_perf_stat_per_thread_is_summed_and_the_busiest_thread_kept_apart() -> None:
    text = "\n".join(
        [
            "# started on Sun Dec  6 17:53:52 2026",
            "",
            "python-11,9000.0,msec,task-clock,9000000000,100.00,0.704,CPUs utilized",
            "grpc-12,30.0,msec,task-clock,30000000,100.00,0.003,CPUs utilized",
            "python-11,140000,,syscalls:sys_enter_read,9000000000,100.00,,",
            "grpc-12,10,,syscalls:sys_enter_read,30000000,100.00,,",
            "python-11,900,,context-switches,9000000000,100.00,,",
            "grpc-12,<not counted>,,syscalls:sys_enter_futex,0,0.00,,",
        ]
    )
    threads = perfwatch.parse(text)
    assert set(threads) == {"python-11", "grpc-12"}
    summed = perfwatch.summarize(threads, 100_000)
    assert summed["main_thread"] == "python-11"
    assert summed["total"]["read"] == 140010
    assert summed["main_per_n"]["read"] == pytest.approx(1.4)
    assert summed["per_n"]["task-clock"] == pytest.approx(0.0903)  # ms per notification
    assert "futex" not in summed["total"]


def test_receipts_brings_its_sparse_worst_case_and_its_own_window() -> None:
    args = parse_args(["--scenarios", "receipts", "--servers", "gateway,receipts"])
    assert args.servers == ["gateway", "receipts", "receipts0"]
    assert args.receipt_notifications == 500_000
    assert parse_args(["--quick", "--scenarios", "receipts"]).receipt_notifications == 20_000
    others = parse_args(["--scenarios", "peruser", "--servers", "gateway,receipts"])
    assert others.servers == ["gateway", "receipts"]
