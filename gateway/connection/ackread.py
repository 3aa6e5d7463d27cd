"""Receipts' ack frame as the SDKs send it, read and checked in one call: `read_ack`.

With receipts on, most frames a client sends are its cumulative ack, and it covers the
last notification written to the connection. The general path reads one as any op
(`parse_client_op`'s regex to a `MarkedAck`, dispatch by type) and checks it against
what the connection was sent (`Connection.ack_span`, which reads the last frame written
back for its cursor): ~19k instructions of an ack's ~43k in Python. `read_ack` does both
halves at once (and `is_notification`, the check a connection makes once per write),
compiled (gateway/csrc/receipts.c, module `gateway._receipts`) unless
`GATEWAY_NO_SPEEDUPS=1` or the module is missing; `read_ack_py` is its twin and the
reference (tests/unit/test_speedups_receipts.py holds the C to it).

It answers None for anything but the common form (another spelling of the frame, a
`sent` it does not recognise), which then takes the general path as before, so no rule is
judged only here: whatever it reads, `AckOp` accepts with the same cursor and
`ack_span` would answer the same range (tests/unit/test_ack_rules.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

from gateway.connection.outgoing import WS_NOTIFICATION_HEAD, WS_NOTIFICATION_HEAD_END
from gateway.receipts.marks import Mark, mark_parts
from gateway.speedups import compiled

__all__ = [
    "ACK_FRAME",
    "AckRead",
    "is_notification",
    "is_notification_py",
    "read_ack",
    "read_ack_py",
]

#: The ack as the SDKs write it (`op` first; compact, or with Python's default spaces).
#: Its cursor group is narrower than `AckOp.cursor` (the shape of a cursor,
#: `Cursor.parse`'s), so anything it matches the model accepts with the same cursor.
ACK_FRAME = re.compile(r'\{"op": ?"ack", ?"cursor": ?"(([0-9a-z.]{1,40})-([0-9]{1,19}))"\}')
#: A cursor's shape in a frame's bytes (`marks._SHAPE`).
_SHAPE = re.compile(rb"([0-9a-z.]{1,40})-([0-9]{1,19})")

#: `(at, last, covered)`: the ack's mark; what the connection should keep as the last
#: notification written (`sent` itself, or its mark once read); whether `(after, at]`
#: is a range the connection may ack (at the last written at most, after `after`).
AckRead = tuple[Mark, "bytes | Mark | None", bool]


def read_ack_py(text: str, after: Mark | None, sent: bytes | Mark | None) -> AckRead | None:
    """The ack frame `text` read against a connection's `after` (where its acks count
    from: `Outbox._acked`) and `sent` (the last notification written: its frame, or its
    mark; `Outbox._sent`); None when `text` is not the common form or `sent` not what a
    connection keeps (then the general path reads it)."""
    found = ACK_FRAME.fullmatch(text)
    if found is None:
        return None
    cursor, store, n = found.groups()
    at = mark_parts(store, n)
    if after is None or sent is None:
        return (at, sent, False)  # nothing counts yet (as ack_span: nothing kept)
    if type(after) is not tuple or len(after) != 3:
        return None
    if type(sent) is bytes:
        i = sent.find(WS_NOTIFICATION_HEAD, 0, WS_NOTIFICATION_HEAD_END)
        if i < 0:
            return None
        start = i + len(WS_NOTIFICATION_HEAD)
        end = sent.find(b'"', start)
        shape = _SHAPE.fullmatch(sent, start, end) if end >= 0 else None
        if shape is None:
            return None
        written = shape[0].decode()
        last = at if written == cursor else mark_parts(shape[1].decode(), shape[2].decode())
    elif type(sent) is tuple and len(sent) == 3:
        last = sent
    else:
        return None
    covered = not (at[0] != last[0] or at > last or at[0] != after[0] or at <= after)
    return (at, last, covered)


def is_notification_py(frame: bytes) -> bool:
    """Whether a WebSocket frame as `Outgoing` made it is a notification's (its head
    after the frame header): what a connection checks once per write while receipts are
    on (`AckWindow._note`)."""
    return frame.find(WS_NOTIFICATION_HEAD, 2, WS_NOTIFICATION_HEAD_END) >= 0


ReadAck = Callable[[str, "Mark | None", "bytes | Mark | None"], "AckRead | None"]


def _load() -> tuple[ReadAck, Callable[[bytes], bool]]:
    module = compiled("_receipts")
    if module is None:
        return read_ack_py, is_notification_py
    return cast(ReadAck, module.read_ack), cast(Callable[[bytes], bool], module.is_notification)


read_ack, is_notification = _load()
