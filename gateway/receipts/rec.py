"""A user's waiting-list entry in the memory receipt store: a notification's seq and mark.

`Rec` is compiled (gateway/csrc/receipts_rec.c: the mark's numbers held in the object
itself, so an ack reads one object per notification where it read a seq, a mark and its
n, three objects made per tracked notification), or `RecPy` where the module is missing.
Both answer `.seq` and `.mark`; the store and the twins read nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol, cast

from gateway.receipts.marks import Mark
from gateway.speedups import compiled

__all__ = ["Rec", "RecLike", "RecPy"]


class RecLike(Protocol):
    @property
    def seq(self) -> int: ...

    @property
    def mark(self) -> Mark: ...


class RecPy(NamedTuple):
    seq: int
    mark: Mark


def _load() -> Callable[[int, Mark], RecLike]:
    module = compiled("_receipts")
    made = getattr(module, "Rec", None)
    return RecPy if made is None else cast(Callable[[int, Mark], RecLike], made)


#: Makes a waiting-list entry: `Rec(seq, mark)`.
Rec = _load()
