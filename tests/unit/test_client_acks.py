"""The Python Subscriber's ack schedule (gateway/client/acks.py): when acks are owed and
sent (a leading-edge throttle: at once after a quiet interval, then at most one per
interval unless `every` are owed), and where a connection resumes so that nothing owed
goes unacked."""

from __future__ import annotations

import time

import pytest

from gateway.client.acks import AckSchedule


def test_nothing_is_owed_to_a_gateway_without_receipts() -> None:
    acks = AckSchedule(0.25, 3)
    acks.connected(False, None, "e-5")
    acks.received("e-6")
    assert acks.due_in() is None and acks.take() is None


def test_the_first_after_a_quiet_interval_is_acked_at_once() -> None:
    acks = AckSchedule(0.2, 100)
    acks.connected(True, None, "e-5")
    acks.received("e-6")
    assert acks.due_in() == 0.0 and acks.take() == "e-6"  # no ack yet on this connection
    time.sleep(0.25)  # quiet for longer than the interval
    acks.received("e-7")
    assert acks.take() == "e-7"


def test_a_burst_gets_one_trailing_ack_an_interval_after_the_last() -> None:
    acks = AckSchedule(0.2, 100)
    acks.connected(True, None, "e-5")
    acks.received("e-6")
    assert acks.take() == "e-6"
    acked_at = time.monotonic()
    for n in range(7, 12):
        acks.received(f"e-{n}")
        assert acks.take() is None  # within the interval: owed
    assert acks.due_in() == pytest.approx(acked_at + 0.2 - time.monotonic(), abs=0.02)
    time.sleep(0.21)
    assert acks.take() == "e-11"  # cumulative: one ack for the five
    assert acks.take() is None and acks.due_in() is None
    acks.received("e-12")  # straight after the trailing ack: throttled again
    assert acks.due_in() == pytest.approx(0.2, abs=0.02)


def test_every_n_owed_sends_an_ack_within_the_interval() -> None:
    acks = AckSchedule(10, 3)
    acks.connected(True, None, "e-5")
    acks.received("e-6")
    assert acks.take() == "e-6"  # the leading ack
    acks.received("e-7")
    acks.received("e-8")
    assert acks.take() is None  # two of three, and the interval has not passed
    acks.received("e-9")
    assert acks.take() == "e-9"
    acks.received("e-10")
    assert acks.take() is None  # the forced ack counts as the last one


def test_a_new_connection_acks_at_once() -> None:
    acks = AckSchedule(10, 100)
    acks.connected(True, None, "e-5")
    acks.received("e-6")
    assert acks.take() == "e-6"
    acks.dropped()
    acks.connected(True, "e-6", "e-7")
    acks.received("e-7")
    assert acks.take() == "e-7"


def test_the_default_interval_is_a_second() -> None:
    assert AckSchedule().interval == 1.0


def test_a_drop_owing_acks_resumes_after_the_last_ack() -> None:
    acks = AckSchedule(10, 100)
    acks.connected(True, None, "e-5")
    acks.received("e-6")
    assert acks.take() == "e-6"
    acks.received("e-7")
    assert acks.take() is None
    acks.received("e-8")  # owed when the socket drops
    acks.dropped()
    assert acks.resume_from("e-8") == "e-6"  # e-7, e-8 replayed and acked on the next socket
    acks.connected(True, "e-6", "e-9")
    assert acks.resume_from("e-9") == "e-9"


def test_a_drop_owing_nothing_resumes_where_the_app_is() -> None:
    acks = AckSchedule(10, 1)
    acks.connected(True, "e-2", "e-5")
    acks.received("e-3")
    assert acks.take() == "e-3"
    acks.dropped()
    assert acks.resume_from("e-3") == "e-3"


def test_acks_off_send_none_but_reads_still_queue() -> None:
    acks = AckSchedule(0.1, 1, enabled=False)
    acks.connected(True, None, "e-1")
    acks.received("e-2")
    assert acks.take() is None
    for n in range(150):
        acks.reads.append(f"n{n}")
    assert len(acks.reads) == 100 and acks.reads[0] == "n50"  # bounded: oldest dropped
