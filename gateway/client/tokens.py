"""When a subscriber sends a fresh token on its open socket, so it is never closed with 4001.

The client cannot verify a token (it has no key) and need not: it only reads the `exp`
claim of the token it was given to know when that token runs out, and sends the next one
(`{"op": "refresh", "token": ...}`) half its remaining lifetime, at most 30 s, before
then (half, so a short-lived token still leaves time for a slow `get_token`). The
gateway answers `refreshed` with the new expiry, which sets the next time.
"""

from __future__ import annotations

import jwt

__all__ = ["refresh_due", "token_expiry"]

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
