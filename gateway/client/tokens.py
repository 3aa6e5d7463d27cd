"""When a subscriber sends a fresh token on its open socket, so it is never closed with 4001.

The client cannot verify a token (it has no key) and need not: it only reads the `exp`
claim of the token it was given to know when that token runs out, and sends the next one
(`{"op": "refresh", "token": ...}`) half its remaining lifetime, at most 30 s, before
then (half, so a short-lived token still leaves time for a slow `get_token`). The
gateway answers `refreshed` with the new expiry, which sets the next time.

`Tokens` keeps this for one subscriber: the token each connect sends (given once, or asked
of `get_token` before every connect) and when the next refresh is due.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable

import jwt

__all__ = ["TokenSource", "Tokens", "refresh_due", "token_expiry"]

#: Called before every connect and every refresh: a token, None for none, or an awaitable.
TokenSource = Callable[[], str | Awaitable[str | None] | None]

#: The most time before expiry at which a token is refreshed.
MAX_MARGIN = 30.0


def token_expiry(token: str) -> float | None:
    """The token's `exp` (unix seconds), read without verifying; None when it has none."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) else None


def refresh_due(expires_at: float, now: float) -> float:
    """When to refresh a token that expires at `expires_at` (both in unix seconds)."""
    left = max(0.0, expires_at - now)
    return expires_at - min(MAX_MARGIN, left / 2)


class Tokens:
    """One subscriber's token: the one a connect sends, and when to send the next one."""

    __slots__ = ("_get", "_token", "refresh_at")

    def __init__(self, token: str | None, get_token: TokenSource | None) -> None:
        if token is not None and get_token is not None:
            raise ValueError("give token or get_token, not both")
        self._token = token
        self._get = get_token
        #: Unix time to send a fresh token on the open socket; None while none is due.
        self.refresh_at: float | None = None

    @property
    def renews(self) -> bool:
        """Whether a fresh token can be asked for (a 401 may then be worth one retry)."""
        return self._get is not None

    async def current(self) -> str | None:
        """The token to send now: the one given, or a fresh one from `get_token`."""
        if self._get is None:
            return self._token
        value = self._get()
        if inspect.isawaitable(value):
            value = await value
        return value

    def linked(self, token: str | None, knows_refresh: bool) -> None:
        """A connection opened with `token`; `knows_refresh`: the gateway speaks
        `notifications.v1`, so the refresh op may be sent before the token expires."""
        expiry = token_expiry(token) if token and self._get is not None else None
        self.refresh_at = None
        if expiry is not None and knows_refresh:
            self.refresh_at = refresh_due(expiry, time.time())

    def refreshed(self, expires_at: float) -> None:
        """The gateway took a fresh token that runs out at `expires_at`."""
        self.refresh_at = refresh_due(expires_at, time.time())

    def taken(self) -> None:
        """The refresh is under way, or the connection is gone: none is due."""
        self.refresh_at = None
