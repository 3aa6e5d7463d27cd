"""What a `Subscriber` yields (`Notification`, `Resync`) and how it spots a repeat.

A `Resync` comes in the stream, in order: right before the notifications replayed by a
resume that could not be complete (the gateway restarted with an in-memory log, or the
missed entries outlived its retention). The app should refetch its state; the
notifications that follow are all the gateway still had.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConnectionState", "CursorWindow", "Notification", "Resync", "StateChange"]


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification frame: its cursor and the notification's fields as published."""

    cursor: str
    id: str
    type: str
    title: str
    body: str
    data: dict[str, Any]
    priority: str
    created_at: str
    #: The frame exactly as received (`{"event": "notification", "cursor", "notification"}`).
    frame: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> Notification:
        body = frame["notification"]
        return cls(
            cursor=frame["cursor"],
            id=body.get("id", ""),
            type=body.get("type", ""),
            title=body.get("title", ""),
            body=body.get("body", ""),
            data=body.get("data", {}),
            priority=body.get("priority", "normal"),
            created_at=body.get("created_at", ""),
            frame=frame,
        )


@dataclass(frozen=True, slots=True)
class Resync:
    """A resume after `since` was incomplete: refetch state; `replayed` notifications follow."""

    since: str
    replayed: int


#: `connecting` → `connected` → `disconnected` (then `connecting` again) …, `closed` at the end.
ConnectionState = str


@dataclass(frozen=True, slots=True)
class StateChange:
    """A connection state change; `code` and `retry_in` are set when a connection ended."""

    state: ConnectionState
    code: int | None = None
    reason: str = ""
    retry_in: float | None = None


class CursorWindow:
    """The last `size` cursors seen: a repeat within them is a duplicate (bounded memory)."""

    def __init__(self, size: int = 1024) -> None:
        if size < 1:
            raise ValueError("the dedup window needs room for one cursor")
        self._order: deque[str] = deque()
        self._seen: set[str] = set()
        self._size = size

    def add(self, cursor: str) -> bool:
        """Records `cursor`; False when it was already among the last `size`."""
        if cursor in self._seen:
            return False
        self._order.append(cursor)
        self._seen.add(cursor)
        if len(self._order) > self._size:
            self._seen.discard(self._order.popleft())
        return True
