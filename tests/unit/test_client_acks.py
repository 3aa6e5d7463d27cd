"""The Python Subscriber's ack schedule (gateway/client/acks.py): when acks are owed and
sent, and where a connection resumes so that nothing owed goes unacked."""

from __future__ import annotations

import time

import pytest

from gateway.client.acks import AckSchedule


def test_nothing_is_owed_to_a_gateway_without_receipts() -> None:
    acks = AckSchedule(0.25, 3)
    acks.connected(False, None, "e-5")
    acks.received("e-6")
    assert acks.due_in() is None and acks.take() is None


def test_an_ack_is_due_after_every_n_or_the_interval() -> None:
    acks = AckSchedule(0.2, 3)
    acks.connected(True, None, "e-5")
    acks.received("e-6")
    acks.received("e-7")
    assert acks.take() is None  # two of three, and the interval has not passed
    acks.received("e-8")
    assert acks.take() == "e-8"  # cumulative: one ack for the three
    assert acks.take() is None
    acks.received("e-9")
    assert acks.due_in() == pytest.approx(0.2, abs=0.05)
    time.sleep(0.25)
    assert acks.take() == "e-9"


def test_a_drop_owing_acks_resumes_after_the_last_ack() -> None:
    acks = AckSchedule(10, 2)
    acks.connected(True, None, "e-5")
    acks.received("e-6")
    acks.received("e-7")
    assert acks.take() == "e-7"
    acks.received("e-8")  # owed when the socket drops
    acks.dropped()
    assert acks.resume_from("e-8") == "e-7"  # e-8 is replayed and acked on the next socket
    acks.connected(True, "e-7", "e-9")
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
