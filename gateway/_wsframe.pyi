"""Types of the module built from gateway/csrc/wsframe.c (see gateway/websocket/frames.py
and machine.py)."""

from typing import Any

def small_text(data: bytes, limit: int, /) -> str | None: ...
def open_text(machine: Any, data: bytes, /) -> str | None: ...
