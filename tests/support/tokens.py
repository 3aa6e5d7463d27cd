"""HS256 tokens for the tests that turn JWT on: one shared secret, one way to mint a token."""

from __future__ import annotations

import time

import jwt

SECRET = "test-secret-that-is-long-enough-for-hs256"


def token(sub: str, *, secret: str = SECRET, ttl: float = 60, **claims: object) -> str:
    """A token for `sub` that expires `ttl` seconds from now (negative: already expired)."""
    payload = {"sub": sub, "exp": int(time.time() + ttl), **claims}
    return jwt.encode(payload, secret, algorithm="HS256")
