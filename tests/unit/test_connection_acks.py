"""A connection's ack span (receipts): an ack counts for what was written to it after its
start and its previous ack, never beyond the last notification written. On a fake
transport."""

from __future__ import annotations

import asyncio

from gateway.connection.connection import Connection
from gateway.connection.outgoing import Outgoing
from gateway.log.cursor import Cursor
from tests.support.fakes import FakeTransport, context


def c(n: int) -> Cursor:
    cursor = Cursor.parse(f"e-{n}")
    assert cursor is not None
    return cursor


def note(n: int) -> Outgoing:
    return Outgoing.notification(f"e-{n}", b"{}")


async def test_an_ack_covers_what_was_written_after_the_start_and_the_last_ack() -> None:
    conn = Connection("u", (), FakeTransport(), context(10_000))
    conn.acks_from(c(3))
    conn.start([])
    assert conn.ack_span(c(4)) is None  # nothing written yet
    for n in (4, 5, 6):
        conn.send(note(n))
    conn.send(Outgoing.of("pong"))  # an event after them: the span still ends at 6
    await asyncio.sleep(0)
    assert conn.ack_span(c(7)) is None  # beyond what was written
    assert conn.ack_span(c(5)) == (c(3), c(5))
    assert conn.ack_span(c(5)) is None  # not after the previous ack
    assert conn.ack_span(c(4)) is None
    assert conn.ack_span(c(6)) == (c(5), c(6))
    assert conn.ack_span(Cursor.parse("other-6") or c(0)) is None  # another store's


async def test_a_replay_written_as_the_transport_drains_counts_as_written() -> None:
    conn = Connection("u", (), FakeTransport(), context(10_000))
    conn.acks_from(c(1))
    conn.start([Outgoing.of("welcome")], iter([note(2), note(3)]))
    assert conn.ack_span(c(3)) == (c(1), c(3))


async def test_without_receipts_nothing_is_noted_and_no_ack_counts() -> None:
    conn = Connection("u", (), FakeTransport(), context(10_000))
    conn.start([])
    conn.send(note(1))
    await asyncio.sleep(0)
    assert conn.ack_span(c(1)) is None
