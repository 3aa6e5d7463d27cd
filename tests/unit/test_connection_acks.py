"""A connection's ack span (receipts): an ack counts for what was written to it after its
start and its previous ack, never beyond the last notification written. On a fake
transport."""

from __future__ import annotations

import asyncio

from gateway.connection.connection import Connection
from gateway.connection.outgoing import Outgoing
from gateway.log.cursor import Cursor
from gateway.receipts.marks import Mark, mark
from tests.support.fakes import FakeTransport, context


def c(n: int) -> Cursor:
    cursor = Cursor.parse(f"e-{n}")
    assert cursor is not None
    return cursor


def m(n: int) -> Mark:
    return mark(c(n))


def note(n: int) -> Outgoing:
    return Outgoing.notification(f"e-{n}", b"{}")


async def test_an_ack_covers_what_was_written_after_the_start_and_the_last_ack() -> None:
    conn = Connection("u", (), FakeTransport(), context(10_000))
    conn.acks_from(c(3))
    conn.start([])
    assert conn.ack_span(m(4)) == []  # nothing written yet
    for n in (4, 5, 6):
        conn.send(note(n))
    conn.send(Outgoing.of("pong"))  # an event after them: the span still ends at 6
    await asyncio.sleep(0)
    assert conn.ack_span(m(7)) == []  # beyond what was written
    assert conn.ack_span(m(5)) == [(m(3), m(5))]
    assert conn.ack_span(m(5)) == []  # not after the previous ack
    assert conn.ack_span(m(4)) == []
    assert conn.ack_span(m(6)) == [(m(5), m(6))]
    assert conn.ack_span(("other", 0, 6)) == []  # another store's


async def test_a_replay_written_as_the_transport_drains_counts_as_written() -> None:
    conn = Connection("u", (), FakeTransport(), context(10_000))
    conn.acks_from(c(1))
    conn.start([Outgoing.of("welcome")], iter([note(2), note(3)]))
    assert conn.ack_span(m(3)) == [(m(1), m(3))]


async def test_without_receipts_nothing_is_noted_and_no_ack_counts() -> None:
    conn = Connection("u", (), FakeTransport(), context(10_000))
    conn.start([])
    conn.send(note(1))
    await asyncio.sleep(0)
    assert conn.ack_span(m(1)) == []


async def test_an_ack_over_what_a_replay_left_out_skips_it() -> None:
    conn = Connection("u", (), FakeTransport(), context(10_000))
    conn.acks_from(c(1), ["e-3", "e-4", "e-7"])  # expired: never sent to this client
    conn.start([Outgoing.of("welcome")], iter([note(2), note(5)]))
    conn.send(note(6))
    conn.send(note(8))
    await asyncio.sleep(0)
    assert conn.ack_span(m(5)) == [(m(1), m(2)), (m(4), m(5))]
    assert conn.ack_span(m(8)) == [(m(5), m(6)), (m(7), m(8))]
    conn.send(note(9))
    await asyncio.sleep(0)
    assert conn.ack_span(m(9)) == [(m(8), m(9))]  # past them: one range again
