"""Types of the module built from gateway/csrc/httphead.c (see gateway/websocket/quick.py)."""

from typing import TypeVar

T = TypeVar("T", bound=tuple[object, ...])

def split_head(data: bytes, limit: int, head: type[T], /) -> T | None: ...
def accept_for(key: str, /) -> bytes | None: ...
