"""What a client does when the gateway closes its WebSocket: one table, one lookup.

The owner's policy for every SDK (the browser client follows the same table):

- 1000 (normal closure): stop.
- 1001, 1006, 1011, 1012, 1013 (going away, dropped, server error, restart, try later),
  4008 (too slow) and 4010 (gap: entries this replica had not delivered are gone):
  reconnect with backoff and `since` (after a 4010 the resume says `complete: false`).
- 4001 (the token expired): get a fresh token, then reconnect.
- 1002, 1003, 1007, 1008, 1009 (this client broke the protocol): stop and report it.
- 4009 (disconnected by a backend, e.g. on logout): stop.
- anything else, or no close frame at all: reconnect with backoff.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["CLOSE_POLICY", "CloseAction", "close_action"]


class CloseAction(Enum):
    RECONNECT = "reconnect"
    REFRESH_TOKEN = "refresh_token"
    STOP = "stop"


CLOSE_POLICY: dict[int, CloseAction] = {
    1000: CloseAction.STOP,
    1001: CloseAction.RECONNECT,
    1006: CloseAction.RECONNECT,
    1011: CloseAction.RECONNECT,
    1012: CloseAction.RECONNECT,
    1013: CloseAction.RECONNECT,
    4008: CloseAction.RECONNECT,
    4010: CloseAction.RECONNECT,
    4001: CloseAction.REFRESH_TOKEN,
    1002: CloseAction.STOP,
    1003: CloseAction.STOP,
    1007: CloseAction.STOP,
    1008: CloseAction.STOP,
    1009: CloseAction.STOP,
    4009: CloseAction.STOP,
}


def close_action(code: int | None) -> CloseAction:
    """The action for a close code; `None` (the TCP connection just ended) reconnects."""
    if code is None:
        return CloseAction.RECONNECT
    return CLOSE_POLICY.get(code, CloseAction.RECONNECT)
