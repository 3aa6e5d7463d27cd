"""Types of the module built from gateway/csrc/receipts*.c (see
gateway/connection/ackread.py, gateway/receipts/memory_loops.py and memory_forget.py)."""

from collections.abc import Callable
from typing import Any

def read_ack(
    text: str, after: tuple[str, int, int] | None, sent: bytes | tuple[str, int, int] | None, /
) -> tuple[tuple[str, int, int], bytes | tuple[str, int, int] | None, bool] | None: ...
def ack_range(window: Any, text: str, /) -> tuple[Any, ...] | None: ...
def is_notification(frame: bytes, /) -> bool: ...
def last_notification(frames: list[bytes], /) -> bytes | None: ...
def log_mark(cursor: str, /) -> tuple[str, int, int] | None: ...

class Rec:
    def __init__(self, seq: int, mark: tuple[str, int, int]) -> None: ...
    @property
    def seq(self) -> int: ...
    @property
    def mark(self) -> tuple[str, int, int]: ...

def track_users(
    items: list[Any],
    start: int,
    tracked: list[Any],
    slots: list[Any],
    waiting: dict[str, list[Rec]],
    seq: int,
    last_at: tuple[str, int, int] | None,
    pending: object,
    users_target: type,
    /,
) -> tuple[int, int, tuple[str, int, int] | None]: ...
def apply_acks(
    acks: list[Any],
    waiting: dict[str, list[Rec]],
    slots: list[Any],
    tracked: list[Any],
    base: int,
    done: list[Any],
    feed_append: Callable[[Any], object],
    user_receipt: type,
    delivered: object,
    now: float,
    /,
) -> int: ...
def tracked_items(
    cls: type[Any],
    items: list[Any],
    drafts: list[Any],
    results: list[Any],
    accepted_at: float,
    /,
) -> list[Any] | None: ...
def ack_taker(
    receipts: Any, fallback: Callable[[Any, str], bool], ack_cls: type[Any], /
) -> Callable[[Any, str], bool]: ...
def observe_delivery(
    published: list[Any],
    histograms: dict[str, Any],
    bounds: tuple[float, ...],
    now: float,
    label_of: Callable[[str], Any],
    at: int = 0,
    type_at: int = 1,
    /,
) -> None: ...
def forget_oldest(
    items: list[Any],
    slots: list[Any],
    ids: dict[str, int],
    waiting: dict[str, list[Rec]],
    broadcast_at: list[Any],
    broadcast_seqs: list[int],
    gone: int,
    base: int,
    indexed: int,
    max_tracked: int,
    horizon: float,
    users_target: type,
    settled: tuple[object, ...],
    /,
) -> int: ...
