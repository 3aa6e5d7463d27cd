"""Who may connect: JWT checks for browsers and the Origin allow-list.

A browser's token (a `bearer.<jwt>` subprotocol, `Authorization: Bearer` or `?token=`)
must be a valid, unexpired JWT whose `sub` is the `user_id` it connects as. Failures
carry the HTTP status to answer with before the upgrade: 401 for a missing or bad token,
403 for a valid token that belongs to someone else or an Origin that is not allowed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

__all__ = ["Denied", "TokenVerifier", "bearer_token", "check_origin"]


@dataclass(frozen=True, slots=True)
class Denied(Exception):
    status: int
    reason: str


class TokenVerifier:
    """Checks tokens against one key: an HS256 secret or an RS256/ES256 public key."""

    def __init__(self, key: str, algorithms: list[str]) -> None:
        self._key = key
        self._algorithms = algorithms

    @classmethod
    def from_secret(cls, secret: str) -> TokenVerifier:
        return cls(secret, ["HS256"])

    @classmethod
    def from_public_key_file(cls, path: Path) -> TokenVerifier:
        return cls(path.read_text(), ["RS256", "ES256"])

    def verify(self, token: str | None, user_id: str) -> float:
        """The token's expiry (Unix seconds) if it lets `user_id` in; else `Denied`."""
        return float(self.claims(token, user_id)["exp"])

    def claims(self, token: str | None, user_id: str) -> dict[str, Any]:
        """The token's claims if it lets `user_id` in; else `Denied`."""
        if not token:
            raise Denied(
                401,
                "a token is required: offer the subprotocol bearer.<jwt>, "
                "or send Authorization: Bearer <jwt> or ?token=<jwt>",
            )
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                options={"require": ["sub", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise Denied(401, "token expired") from None
        except jwt.PyJWTError as exc:
            raise Denied(401, f"invalid token: {exc}") from None
        if claims["sub"] != user_id:
            raise Denied(403, "token is for another user than user_id")
        if float(claims["exp"]) <= time.time():  # leeway-free double check against rounding
            raise Denied(401, "token expired")
        return claims


def check_origin(origin: str | None, allowed: frozenset[str] | None) -> None:
    """`Denied` (403) when an allow-list is set and a browser's Origin is not on it.

    Requests without an Origin header come from non-browser clients, which the same-origin
    policy does not concern; tokens are what stop those.
    """
    if allowed is None or origin is None:
        return
    if origin.rstrip("/") not in allowed:
        raise Denied(403, f"origin {origin[:100]!r} is not allowed")


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (HTTP header or gRPC metadata)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
