"""Types of the module built from gateway/csrc/publish.c (gateway/log/memory.py, drafts.py)."""

from collections.abc import Callable
from typing import Any

def configure_append(
    draft: type,
    entry: type,
    entry_tail: tuple[Any, ...],
    result: type,
    result_tail: tuple[Any, ...],
    fingerprint: Callable[[Any, bytes], int],
    /,
) -> None: ...
def append(
    log: Any, drafts: list[Any], now: float, deliver: Callable[[Any], int], /
) -> list[Any] | None: ...
def configure_drafts(
    publish_item: type,
    notification_item: type,
    draft: type,
    draft_tail: tuple[Any, ...],
    encode: Callable[[Any], bytes],
    /,
) -> None: ...
def drafts_of(items: list[Any], max_bytes: int, trace: str | None, /) -> list[Any] | None: ...
def tally(results: list[Any], /) -> tuple[int, int, int, int] | None: ...
def configure_outgoing(
    outgoing: type, frame: Callable[[str, bytes], bytes], event: str, /
) -> None: ...
def outgoing_notification(cursor: str, body: bytes, /) -> Any: ...
