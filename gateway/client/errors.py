"""What the Python clients raise: one exception type per way a call or a stream can end."""

from __future__ import annotations

import grpc

__all__ = ["PublishError", "SubscriberRefused", "SubscriberStopped"]


class PublishError(Exception):
    """A publish the gateway did not accept: the gRPC status code and the gateway's message.

    For a batch item this is that item's own outcome (`INVALID_ARGUMENT` naming the field,
    or `UNAVAILABLE` once the retries are spent); the other items are not affected.
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_code(cls, code: int, message: str) -> PublishError:
        """From a numeric google.rpc.Code, as `PublishResult.code` carries it."""
        for status in grpc.StatusCode:
            if status.value[0] == code:
                return cls(status, message)
        return cls(grpc.StatusCode.UNKNOWN, f"code {code}: {message}")


class SubscriberStopped(Exception):
    """The gateway closed the socket with a code that means "do not reconnect".

    `code` is the WebSocket close code (1000, 4009, or 1002/1003/1007/1008/1009, which
    mean this client broke the protocol), `reason` the close reason the gateway gave.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed by the gateway with {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class SubscriberRefused(Exception):
    """The gateway refused the connect before the upgrade, for a reason retrying won't fix.

    `status` is the HTTP status (400 bad parameters, 401 bad token, 403 forbidden, 431 a
    request head too large: the token or the topic list);
    `body` the gateway's JSON reason, e.g. `{"error": "invalid_request", "field": ...}`.
    """

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"refused: HTTP {status} {body}".rstrip())
        self.status = status
        self.body = body
