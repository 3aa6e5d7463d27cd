"""Who may connect: JWT checks for browsers and the Origin allow-list.

A browser's token (a `bearer.<jwt>` subprotocol, `Authorization: Bearer` or `?token=`)
must be a valid, unexpired JWT whose `sub` is the `user_id` it connects as (and, when
configured, whose `aud` and `iss` match). Failures carry the HTTP status to
answer with before the upgrade: 401 for a missing or bad token, 403 for a valid token
that belongs to someone else or an Origin that is not allowed, 503 when the keys to
check it with cannot be had (a JWKS endpoint that does not answer).

Keys are checked when the verifier is built, so a key that cannot work stops the start
with `ConfigError` instead of failing every connect later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway.config import ConfigError

__all__ = ["Denied", "KeySource", "StaticKey", "TokenVerifier", "bearer_token", "check_origin"]


@dataclass(frozen=True, slots=True)
class Denied(Exception):
    status: int
    reason: str


class KeySource(Protocol):
    """Where the key for one token comes from: a fixed key, or a JWKS picked by `kid`."""

    def key_for(self, token: str) -> tuple[Any, list[str]]:
        """The key and the algorithms it may verify; `Denied` if there is none."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class StaticKey:
    """One configured key: an HS256 secret or a PEM public key parsed at start."""

    def __init__(self, key: Any, algorithms: list[str]) -> None:
        self._key = key
        self._algorithms = algorithms

    @classmethod
    def from_public_key_file(cls, path: Path) -> StaticKey:
        """The key in a PEM file, with the one algorithm family its type allows.

        Pinning the algorithm to the key type is what stops algorithm confusion (an
        HS256 token "signed" with the public key text).
        """
        field = "jwt_public_key_file"
        try:
            key = load_pem_public_key(path.read_bytes())
        except OSError as exc:
            raise ConfigError(field, f"cannot read {str(path)!r}: {exc.strerror}") from None
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ConfigError(
                field, f"{str(path)!r} is not a PEM public key (-----BEGIN PUBLIC KEY-----)"
            ) from None
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < 2048:
                raise ConfigError(field, f"an RSA key needs 2048 bits or more, not {key.key_size}")
            return cls(key, ["RS256", "RS384", "RS512"])
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _EC_ALGORITHMS:
            return cls(key, [_EC_ALGORITHMS[key.curve.name]])
        if isinstance(key, ed25519.Ed25519PublicKey):
            return cls(key, ["EdDSA"])
        raise ConfigError(field, "the key must be RSA, EC P-256/P-384/P-521 or Ed25519")

    def key_for(self, token: str) -> tuple[Any, list[str]]:
        return self._key, self._algorithms

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class TokenVerifier:
    """Checks tokens against a key source, and `aud`/`iss` when those are configured."""

    def __init__(
        self, keys: KeySource, *, audience: str | None = None, issuer: str | None = None
    ) -> None:
        self._keys = keys
        self._audience = audience
        self._issuer = issuer
        required = ["sub", "exp"]
        if audience is not None:
            required.append("aud")
        if issuer is not None:
            required.append("iss")
        self._required = required

    @classmethod
    def from_secret(cls, secret: str, **checks: str | None) -> TokenVerifier:
        return cls(StaticKey(secret, ["HS256"]), **checks)

    @classmethod
    def from_public_key_file(cls, path: Path, **checks: str | None) -> TokenVerifier:
        return cls(StaticKey.from_public_key_file(path), **checks)

    async def start(self) -> None:
        """Fetch what the keys need before the first connect (a JWKS); no-op otherwise."""
        await self._keys.start()

    async def close(self) -> None:
        await self._keys.close()

    def claims(self, token: str | None, user_id: str) -> dict[str, Any]:
        """The token's claims if it lets `user_id` in; else `Denied`."""
        if not token:
            raise Denied(
                401,
                "a token is required: offer the subprotocol bearer.<jwt>, "
                "or send Authorization: Bearer <jwt> or ?token=<jwt>",
            )
        key, algorithms = self._keys.key_for(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": self._required},
            )
        except jwt.ExpiredSignatureError:
            raise Denied(401, "token expired") from None
        except jwt.PyJWTError as exc:
            raise Denied(401, f"invalid token: {exc}") from None
        if claims["sub"] != user_id:
            raise Denied(403, "token is for another user than user_id")
        expiry = float(claims["exp"])  # PyJWT has checked it is a number
        if expiry <= time.time():  # leeway-free double check against clock rounding
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
