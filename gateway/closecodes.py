"""Every WebSocket close code the gateway sends, in one place.

docs/concepts/close-codes.md mirrors this enum as a table for client authors.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["CloseCode"]


class CloseCode(IntEnum):
    NORMAL = 1000
    #: The gateway is shutting down; resume on another replica with ?since=<last cursor>.
    GOING_AWAY = 1001
    #: The client broke RFC 6455 framing (unmasked, reserved bits, bad fragmentation).
    PROTOCOL_ERROR = 1002
    #: A text message or close reason from the client was not valid UTF-8.
    INVALID_DATA = 1007
    #: The client broke the protocol (repeated bad frames, binary frames).
    POLICY_VIOLATION = 1008
    #: A client message was larger than the configured limit.
    MESSAGE_TOO_BIG = 1009
    #: The backend (Redis) could not be reached to replay: reconnect with ?since= later.
    TRY_AGAIN_LATER = 1013
    #: The connection's token expired; reconnect with a fresh one.
    TOKEN_EXPIRED = 4001
    #: The client read too slowly and its send buffer overflowed; resume with ?since=.
    TOO_SLOW = 4008
    #: A backend asked for this user to be disconnected (Disconnect RPC).
    DISCONNECTED = 4009
    #: Entries this replica had not delivered were trimmed from the shared log (an outage):
    #: reconnect with ?since=<last cursor> and learn whether the replay is complete.
    GAP = 4010
