"""Where a `Subscriber`'s next connect resumes from, and which notifications are new.

It exists apart from subscriber.py because these rules decide whether a client loses or
repeats notifications, and they read no socket: each event of a connection (welcome,
resumed, notification, the drop) moves the position, so they are tested event by event.

- The first connect starts at the welcome's cursor (the head) unless given `since`.
- Asked with `since`, no frame before `resumed` moves the cursor: a gateway whose replay
  read failed sends the welcome and live frames, then 1013, and a resume from those would
  skip the range never replayed (issue 15, fault path 1).
- After the last replayed item the cursor is the head the replay ran to: the entries
  between were not addressed to this user, and a cursor of another replica is left behind.
- A notification whose cursor was seen among the last `dedup_window` is not new.
"""

from __future__ import annotations

from gateway.client.items import CursorWindow

__all__ = ["Position"]


class Position:
    """The resume cursor of one subscriber, moved by the events of each connection."""

    __slots__ = ("_replay_left", "_resuming", "_seen", "cursor", "head")

    def __init__(self, since: str | None, dedup_window: int) -> None:
        #: Where the next connect resumes from: the last notification's cursor.
        self.cursor = since
        #: The welcome's cursor on this connection ("" before the welcome).
        self.head = ""
        self._replay_left = 0
        self._resuming = False
        self._seen = CursorWindow(dedup_window)

    def connecting(self, since: str | None) -> None:
        """A connect asks to resume after `since` (None: from the head)."""
        self._resuming = since is not None

    def welcome(self, head: str) -> None:
        self.head = head
        if self.cursor is None:
            self.cursor = head

    def resumed(self, replayed: int) -> None:
        """The gateway's `resumed`: `replayed` notifications follow, then live ones."""
        self._resuming = False
        self._replay_left = replayed
        if not replayed:
            self.cursor = self.head

    def notification(self, cursor: str) -> bool:
        """A notification at `cursor` arrived: True if it is new (not a repeat)."""
        if self._resuming:
            pass  # ahead of `resumed` (an older gateway whose replay failed): not a position
        elif self._replay_left:
            self._replay_left -= 1
            self.cursor = cursor if self._replay_left else self.head
        else:
            self.cursor = cursor
        return self._seen.add(cursor)

    def dropped(self) -> None:
        """The connection ended: what held for it is gone; the cursor stays."""
        self.head = ""
        self._replay_left = 0
        self._resuming = False
