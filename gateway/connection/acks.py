"""Receipts (issue 17): what a connection's acks may cover, `AckWindow`, a base of `Outbox`.

A cumulative ack counts only for what its connection was written: after where its acks
count from (`_acked`: where it started, then its last ack) and not beyond the last
notification written (`_sent`: noted once per write, never per item, and only while
receipts are on). The state lives in `Outbox`'s slots (one object per client: this class
adds no object); it is apart from outbox.py because it is receipts' rules, not the write path's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

from gateway.connection.ackread import is_notification, is_notification_py, read_ack
from gateway.connection.outgoing import frame_cursor
from gateway.log.cursor import Cursor
from gateway.receipts.marks import Mark, just_before, log_mark, mark
from gateway.speedups import compiled

__all__ = [
    "AckWindow",
    "Span",
    "ack_range",
    "ack_range_py",
    "last_notification",
    "last_notification_py",
]

#: `(after, at]`: a range of cursors an ack covers.
Span = tuple[Mark, Mark]
#: What an ack that covers nothing gets (never appended to).
_NOTHING: list[Span] = []


class AckWindow:
    # set by Outbox.__init__ (None while receipts are off, and then nothing is noted);
    # `_ack_key` by the compiled ack taker only
    __slots__ = ("_ack_key", "_acked", "_sent", "_unsent")

    #: Where acks count after: where the connection started, then its last ack.
    _acked: Mark | None
    #: The last notification written: its frame as flushed (noted once per write, never
    #: per item; its cursor read by the first ack after it), then its mark.
    _sent: bytes | Mark | None
    #: Notifications of this user's that a complete replay skipped (expired before the
    #: client came back: never sent), which an ack over them must not cover.
    _unsent: tuple[Mark, ...]
    #: This connection's key in the receipts' ack queue, `(user_id, topics)`: kept by the
    #: compiled ack taker (receipts_take.c) from the connection's first ack, and made again
    #: when either is replaced (a tuple made and freed fewer per ack). Unset until then;
    #: Python never reads it (`Receipts.ack` makes its own).
    _ack_key: tuple[str, frozenset[str]]

    def _note(self, frames: list[bytes]) -> None:
        last = frames[-1]
        if is_notification(last):
            self._sent = last  # the common case: kept as it is, read if an ack comes
            return
        for frame in reversed(frames):
            cursor = frame_cursor(frame)
            if cursor is not None:
                self._sent = log_mark(cursor)
                return

    def acks_from(self, start: Cursor, unsent: Iterable[str] = ()) -> None:
        """Receipts are on: acks count for what this connection is written after `start`
        (the head it joined at, or the cursor its complete replay resumed after), except
        `unsent`: cursors of the user's notifications after `start` that the replay did
        not carry (expired)."""
        self._acked = mark(start)
        self._unsent = tuple(sorted(log_mark(cursor) for cursor in unsent))

    def ack_text(self, text: str) -> list[Span] | None:
        """`ack_span` for an ack frame as the SDKs send it, read and checked in one call
        (ackread.py); None when `text` is not that form (then it is parsed as any op)."""
        read = read_ack(text, self._acked, self._sent)
        if read is None:
            return None
        at, self._sent, covered = read
        if not covered:
            return _NOTHING
        after = self._acked
        self._acked = at
        if not self._unsent:
            return [(after, at)]  # type: ignore[list-item]  # covered: after is a Mark
        return self._around_unsent(after, at)  # type: ignore[arg-type]

    def ack_span(self, at: Mark, text: str = "") -> list[Span]:
        """The ranges `(after, at]` a cumulative ack covers: empty when it covers nothing
        this connection was written (receipts off, nothing written yet, `at` beyond the
        last notification written, or not after the previous ack); split around any
        notification a replay did not carry (one range otherwise). `text`, the ack's
        cursor as sent, spares parsing the last one written when it is that one."""
        after, sent = self._acked, self._sent
        if after is None or sent is None:
            return []
        if isinstance(sent, bytes):
            cursor = frame_cursor(sent)
            if cursor is None:
                return []
            self._sent = last = at if cursor == text else log_mark(cursor)
        else:
            last = sent
        if at[0] != last[0] or at > last or at[0] != after[0] or at <= after:
            return []
        self._acked = at
        if not self._unsent:
            return [(after, at)]
        return self._around_unsent(after, at)

    def _around_unsent(self, after: Mark, at: Mark) -> list[Span]:
        spans = []
        for hole in self._unsent:
            if hole > at:
                break
            if hole > after:
                before = just_before(hole)
                if before > after:
                    spans.append((after, before))
                after = hole
        self._unsent = tuple(hole for hole in self._unsent if hole > at)
        if at > after:
            spans.append((after, at))
        return spans


def ack_range_py(window: AckWindow, text: str) -> Span | tuple[()] | None:
    """`window.ack_text(text)` where the connection's acks have no holes (no replay left
    any of its notifications out, the common case), as one range: `(after, at)`, or `()`
    when it covers nothing (then ignored and counted); None when `text` is not the SDKs'
    ack frame or there are holes (then `ack_text` or the general path reads it, and the
    connection is untouched). Compiled as `gateway._receipts.ack_range`, which spares the
    handler a Python call and a list per ack."""
    if window._unsent:
        return None
    read = read_ack(text, window._acked, window._sent)
    if read is None:
        return None
    at, window._sent, covered = read
    if not covered:
        return ()
    after = window._acked
    window._acked = at
    return (after, at)  # type: ignore[return-value]  # covered: after is a Mark


AckRange = Callable[[AckWindow, str], "Span | tuple[()] | None"]


def _load() -> AckRange:
    module = compiled("_receipts")
    found = getattr(module, "ack_range", None)
    return ack_range_py if found is None else cast(AckRange, found)


ack_range = _load()


def last_notification_py(frames: list[bytes]) -> bytes | None:
    """The last of a write's frames when it is a notification's, else None: what a flush
    notes as the last notification written (`Outbox.flush`, `AckWindow._note`'s common
    case). The twin of `gateway._receipts.last_notification` (one C call per write)."""
    last = frames[-1]
    return last if is_notification_py(last) else None


LastNotification = Callable[[list[bytes]], "bytes | None"]
_last_c = getattr(compiled("_receipts"), "last_notification", None)
last_notification: LastNotification = (
    last_notification_py if _last_c is None else cast(LastNotification, _last_c)
)
