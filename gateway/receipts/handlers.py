"""Receipts' client ops (issue 17): `ack` and `read`, registered as extra handlers in
`ClientOps` (which knows nothing of receipts).

Both are fire-and-forget: no reply (a reply per ack would double what acks cost). An ack
counts only for what its connection was sent: the connection says which range a cursor
covers (`Connection.ack_span`: after its previous ack, or its start, and not beyond what
was written to it); anything else is ignored and counted, never answered with an error,
so a client racing a reconnect is not closed for it. The store checks the rest: each
notification in the range must be addressed to the connection's user (or a topic it
follows, or everyone), and a `read` must name one addressed to the user.

With receipts off the same ops are answered `receipts_off` (not a bad frame: a client
that acks by default does so only after a welcome saying `receipts: true`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from gateway.connection.acks import ack_range
from gateway.connection.connection import Connection
from gateway.connection.dispatch import FirstReader, OpHandler, error
from gateway.connection.ops import AckOp, MarkedAck, ReadOp
from gateway.connection.outgoing import Outgoing
from gateway.receipts.marks import Mark, mark_of
from gateway.receipts.store import Ack
from gateway.receipts.tracker import Receipts
from gateway.speedups import compiled

__all__ = ["ack_reader", "receipt_handlers"]

_NO_REPLIES: list[Outgoing] = []  # never appended to: acks are not answered
_OFF = "this gateway runs without receipts (GATEWAY_RECEIPTS): acks and reads are not kept"


def receipt_handlers(receipts: Receipts | None) -> Mapping[type[Any], OpHandler]:
    """The `ack` and `read` handlers for `ClientOps(extra=...)` (an ack arrives as an
    `AckOp`, or as a `MarkedAck` when `parse_client_op`'s fast path read it)."""
    if receipts is None:
        return {AckOp: _off, MarkedAck: _off, ReadOp: _off}
    handlers = _Handlers(receipts)
    return {AckOp: handlers.ack, MarkedAck: handlers.marked_ack, ReadOp: handlers.read}


def ack_reader(receipts: Receipts | None) -> FirstReader | None:
    """For `ClientOps(first=...)`: the SDKs' ack frame read and queued in one pass
    (connection/ackread.py), before any parsing; every other frame is parsed as before.
    Compiled (`gateway._receipts.ack_taker`: `_Handlers.ack_text` in one C call for its
    common cases, handing the rest to it and to `Receipts.ack`) unless the module is
    missing or turned off."""
    if receipts is None:
        return None
    python = _Handlers(receipts).ack_text
    module = compiled("_receipts")
    taker = getattr(module, "ack_taker", None)
    if taker is None:
        return python
    return cast(FirstReader, taker(receipts, python, Ack))


def _off(conn: Connection, op: object) -> list[Outgoing]:
    return [error("receipts_off", _OFF, "op")]


class _Handlers:
    __slots__ = ("_receipts",)

    def __init__(self, receipts: Receipts) -> None:
        self._receipts = receipts

    def ack(self, conn: Connection, op: AckOp) -> list[Outgoing]:
        at = mark_of(op.cursor)
        spans = [] if at is None else conn.ack_span(at)
        self._queue(conn, spans)
        return []

    def marked_ack(self, conn: Connection, op: MarkedAck) -> list[Outgoing]:
        """The SDKs' ack, read by the fast path (most client frames): no more calls than
        it needs."""
        spans = conn.ack_span(op.at, op.cursor)
        if len(spans) == 1:
            floor, upto = spans[0]
            self._receipts.ack(conn.user_id, conn.topics, floor, upto)
        else:
            self._queue(conn, spans)
        return _NO_REPLIES

    def ack_text(self, conn: Connection, text: str) -> bool:
        """The SDKs' ack frame, read with its range in one call (False: not that form)."""
        span = ack_range(conn, text)  # the common case, no holes: one call
        if span is not None:
            if span:
                self._receipts.ack(conn.user_id, conn.topics, span[0], span[1])
            else:
                self._receipts.stats.acks_ignored += 1
            return True
        spans = conn.ack_text(text)
        if spans is None:
            return False
        if len(spans) == 1:
            floor, upto = spans[0]
            self._receipts.ack(conn.user_id, conn.topics, floor, upto)
        else:
            self._queue(conn, spans)
        return True

    def _queue(self, conn: Connection, spans: list[tuple[Mark, Mark]]) -> None:
        receipts = self._receipts
        if not spans:
            receipts.stats.acks_ignored += 1
            return
        for floor, upto in spans:
            receipts.ack(conn.user_id, conn.topics, floor, upto)

    def read(self, conn: Connection, op: ReadOp) -> list[Outgoing]:
        self._receipts.read(conn.user_id, conn.topics, op.id)
        return []
