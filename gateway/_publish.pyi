"""Types of the module built from gateway/csrc/publish.c and memlog.c (gateway/log/memory.py)."""

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
