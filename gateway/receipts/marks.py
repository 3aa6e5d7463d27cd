"""A cursor's place in its store's order as a plain tuple, for receipts' per-ack and
per-publish work.

A `Cursor` is the typed value the edges and the log share; receipts compare positions
on every ack and record one per tracked publish, and a `Cursor` object (a frozen
dataclass, compared through methods and properties) cost several times what the rest of
an ack did. A `Mark` is `(epoch, ms, n)`: `ms` is 0 where the cursor has none (the memory
log's), as `Cursor.position` orders them. Two marks of one store compare as tuples;
marks of two stores never compare as ordered (`later` checks the epoch first).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

from gateway.log.cursor import Cursor
from gateway.speedups import compiled

__all__ = [
    "Mark",
    "cursor_mark",
    "just_before",
    "later",
    "log_mark",
    "mark",
    "mark_of",
    "mark_parts",
    "sortable",
]

Mark = tuple[str, int, int]

#: `Cursor.parse`'s shape, with the store and the sequence as groups.
_SHAPE = re.compile(r"([0-9a-z.]{1,40})-([0-9]{1,19})")


def mark(cursor: Cursor) -> Mark:
    """The mark of a parsed cursor."""
    return (cursor.epoch, cursor.ms or 0, cursor.n)


def mark_of(text: str) -> Mark | None:
    """`mark(Cursor.parse(text))` without making the `Cursor` (None: not a cursor)."""
    found = _SHAPE.fullmatch(text)
    if found is None:
        return None
    return mark_parts(*found.groups())


def mark_parts(store: str, n: str) -> Mark:
    """The mark of a cursor already matched as `<store>-<n>` (its shape checked). As
    `Cursor.parse`: the store is `<epoch>.<ms>` when it ends in 1 to 19 ASCII digits after
    a dot with something before it (str methods here: a regex cost twice as much)."""
    epoch, dot, ms = store.rpartition(".")
    if dot and epoch and len(ms) <= 19 and ms.isdigit() and ms.isascii():
        return (epoch, int(ms), int(n))
    return (store, 0, int(n))


def log_mark(cursor: str) -> Mark:
    """The mark of a cursor a log printed (`Entry.cursor`, `AppendResult.cursor`): its
    shape is the log's own, so it is split without being checked again."""
    store, _, n = cursor.rpartition("-")
    return mark_parts(store, n)


def _load() -> Callable[[str], Mark | None]:
    module = compiled("_receipts")
    return log_mark if module is None else cast(Callable[[str], Mark | None], module.log_mark)


#: `log_mark` for receipts' tracking of each published notification: compiled
#: (gateway/csrc/receipts_marks.c), or `log_mark` itself. The compiled one answers None for a
#: cursor not of `Cursor.parse`'s shape (then call `log_mark`), and its epoch is the one
#: object the acks' marks (`ackread.read_ack`) share, so the store compares identical
#: objects.
cursor_mark = _load()


def later(a: Mark, b: Mark) -> bool:
    """Whether `a` is a later position than `b` in the same store (`Cursor.after`)."""
    return a[0] == b[0] and a > b


#: Above any sequence number a cursor carries (19 digits at most).
_TOP = 10**19 - 1


def just_before(at: Mark) -> Mark:
    """The last mark before `at` (every position before `at` is at or before it), so that
    `(a, just_before(h)]` and `(h, b]` cover `(a, b]` without `h`."""
    epoch, ms, n = at
    return (epoch, ms, n - 1) if n else (epoch, ms - 1, _TOP)


def sortable(at: Mark) -> str:
    """Fixed-width text that sorts as the marks of one store do (Redis' lexical ranges).
    The epoch is kept in front, so positions of two stores never interleave."""
    return f"{at[0]}.{at[1]:020d}{at[2]:020d}"
