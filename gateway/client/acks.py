"""When the `Subscriber` acknowledges notifications (receipts), as a small state machine.

The same rules as the browser client's `acks.ts`: an ack is cumulative (`{"op": "ack",
"cursor": C}` covers everything up to C), owed once a notification was handed to the app
(or recognised as one handed over before), and sent only to a gateway whose welcome said
`receipts: true`, throttled on the leading edge: a notification handed over when no ack
went out on this connection in the last `interval` seconds is acked at once; otherwise
one ack covering everything owed goes out `interval` after the last, or at once when
`every` are owed. Why: a person's notifications are sparse (minutes apart), so each is
acked as soon as the app has it and the gateway's publish-to-ack histogram measures the
latency the person sees, not a coalescing wait; a burst to one user still costs the
gateway at most one ack frame per `interval` (each is a read and a wake-up on the
server). An ack counts only on the connection the notification came over, so
when a socket drops owing acks, the next connect resumes after the last point acked
(`resume_from`) and the replay of what follows is acked on the new connection (the app
does not see it twice: the subscriber's duplicate window drops it).

No I/O here: the subscriber asks `take()` for the cursor to send and sends it.
"""

from __future__ import annotations

import time
from collections import deque

__all__ = ["AckSchedule"]

#: Reads waiting for a connection (the oldest are dropped past it).
MAX_QUEUED_READS = 100


class AckSchedule:
    def __init__(self, interval: float = 1.0, every: int = 100, *, enabled: bool = True) -> None:
        if interval <= 0 or every < 1:
            raise ValueError("acks need a positive interval and every >= 1")
        #: False: no acks are sent (reads still are).
        self.enabled = enabled
        self.interval = interval
        self.every = every
        #: Whether the current connection's gateway applies receipts.
        self.on = False
        self._owed: str | None = None
        self._count = 0
        #: When this connection last sent an ack (monotonic); None: not yet.
        self._last_at: float | None = None
        self._safe: str | None = None
        self._rewind: str | None = None
        self.reads: deque[str] = deque(maxlen=MAX_QUEUED_READS)

    def connected(self, receipts: bool, since: str | None, head: str) -> None:
        """A welcome: the connection resumed after `since` (None: it starts at `head`)."""
        self.on = receipts
        self._safe = since if since is not None else head
        self._rewind = None
        self._last_at = None  # the throttle is per connection: a new one acks at once

    def received(self, cursor: str) -> None:
        """A notification of this connection was handed over (or was a duplicate)."""
        if not (self.on and self.enabled):
            return
        self._owed = cursor
        self._count += 1

    def due_in(self) -> float | None:
        """Seconds until an ack is due (0: now); None when nothing is owed."""
        if self._owed is None:
            return None
        if self._count >= self.every or self._last_at is None:
            return 0.0
        return max(0.0, self._last_at + self.interval - time.monotonic())

    def take(self) -> str | None:
        """The cursor to ack now, if one is due; it counts as acked from here."""
        due = self.due_in()
        if due is None or due > 0:
            return None
        return self.take_all()

    def take_all(self) -> str | None:
        """Whatever is owed, due or not (a clean close)."""
        cursor, self._owed = self._owed, None
        self._count = 0
        if cursor is not None:
            self._safe = cursor
            self._last_at = time.monotonic()
        return cursor

    def dropped(self) -> None:
        """The socket is gone: what it owed is asked for again by the next one."""
        if self.on and self._owed is not None:
            self._rewind = self._safe
        self._owed, self._count = None, 0
        self.on = False

    def resume_from(self, cursor: str | None) -> str | None:
        return self._rewind if self._rewind is not None else cursor
