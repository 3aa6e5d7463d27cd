"""A position in the shared history, as clients hold it: one bounded, opaque string.

Every log prints its cursors in one shape, `<store>-<n>`: the memory log as
`<epoch>-<seq>`, the Redis log as `<epoch>.<ms>-<n>` (its stream entry id behind the
store's epoch). The epoch names one store (one process's memory, one Redis keyspace), so a
cursor from another store is recognised as foreign (its resume is answered `complete:
false`) rather than misread. Clients never look inside; the gateway parses a client's
cursor once, at the edge, into a `Cursor`, and compares and prints it through its methods.

`Entry.cursor` stays the printed form: it is made once per notification on the hot path
and only ever copied into frames.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MAX_CURSOR_LENGTH", "Cursor"]

_SHAPE = re.compile(r"[0-9a-z.]{1,40}-[0-9]{1,19}")
_DIGITS = re.compile(r"[0-9]{1,19}")
#: The longest cursor any log prints or accepts (40 + 1 + 19 characters).
MAX_CURSOR_LENGTH = 60


@dataclass(frozen=True, slots=True)
class Cursor:
    """`epoch` names the store; `(ms, n)` orders positions within it (`ms` is None for the
    memory log's plain sequence numbers)."""

    epoch: str
    ms: int | None
    n: int

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        """The cursor `text` prints, or None when it is not shaped like one of ours.

        A shaped cursor of an unknown store still parses (its epoch will not match).
        """
        if _SHAPE.fullmatch(text) is None:
            return None
        store, _, n = text.rpartition("-")
        epoch, dot, ms = store.rpartition(".")
        if dot and epoch and _DIGITS.fullmatch(ms) is not None:
            return cls(epoch, int(ms), int(n))
        return cls(store, None, int(n))

    @classmethod
    def of_stream(cls, epoch: str, stream_id: str) -> Cursor:
        """The cursor of a Redis stream entry id `<ms>-<n>` in the store `epoch`."""
        ms, _, n = stream_id.partition("-")
        return cls(epoch, int(ms), int(n or 0))

    @property
    def stream_id(self) -> str:
        """The Redis stream entry id this cursor names (`<ms>-<n>`)."""
        return f"{self.ms or 0}-{self.n}"

    @property
    def position(self) -> tuple[int, int]:
        """What orders cursors of one store."""
        return (self.ms or 0, self.n)

    def __str__(self) -> str:
        if self.ms is None:
            return f"{self.epoch}-{self.n}"
        return f"{self.epoch}.{self.ms}-{self.n}"

    def of(self, epoch: str) -> bool:
        """Whether this cursor names a position in the store `epoch`."""
        return self.epoch == epoch

    def after(self, other: Cursor) -> bool:
        """Whether this is a later position than `other` in the same store."""
        return self.epoch == other.epoch and self.position > other.position
