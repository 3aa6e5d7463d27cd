"""Token keys from an identity provider's JSON Web Key Set (`GATEWAY_JWT_JWKS_URL`).

PyJWT's `PyJWKClient` fetches and parses the set; it blocks, so it runs in a worker
thread: once at start, then every refresh interval in the background, and early when a
token names a `kid` the set does not have (at most once every `EARLY_FETCH_SECONDS`, or
the refresh interval if shorter, so a flood of made-up `kid`s cannot turn into a flood of
fetches). Connects only read the last good set, so verifying a token never waits on the
network.

Outcomes: a known `kid` is verified with its key, even while the endpoint is down (the
set is cached); an unknown `kid` is 401 while the endpoint answers, 503 while it does
not (or answers something that is not a set of public keys). An outage is logged once
when it starts and once when it ends. At start, an endpoint that does not answer is such
an outage; one that answers something else is a wrong URL, a `ConfigError`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKClientConnectionError, PyJWKSetError

from gateway.auth import Denied
from gateway.config import ConfigError
from gateway.tasks import cancel_and_wait

__all__ = ["JwksKeys"]

log = logging.getLogger("gateway.auth")

#: Only public-key algorithms: an HS256 (shared secret) or "none" entry in a public
#: document is a mistake, and accepting it would let anyone who can read it sign tokens.
_PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: Seconds one fetch may take before the endpoint counts as unreachable.
FETCH_TIMEOUT = 5.0
#: Shortest gap between fetches made early for an unknown `kid`: a rotated-in key is
#: found within seconds, yet made-up kids cost the endpoint at most one fetch per gap.
EARLY_FETCH_SECONDS = 10.0


class JwksKeys:
    """The signing keys of one JWKS URL by `kid`, refreshed off the event loop."""

    def __init__(self, url: str, refresh_seconds: float) -> None:
        self.url = url
        self._refresh_seconds = refresh_seconds
        # PyJWT's own set cache would make a forced refresh the only way to see a new
        # set; this class decides when to fetch, so every fetch is a real one.
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=FETCH_TIMEOUT)
        self._keys: dict[str, PyJWK] = {}
        self._reachable = False  # the last fetch succeeded
        self._outage_logged = False
        self._last_fetch = float("-inf")
        self._fetching: asyncio.Task[None] | None = None
        self._periodic: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """First fetch, then the refresh loop. An endpoint that does not answer is logged
        and answered with 503s until it does; one that answers something other than a
        set of public keys is a wrong URL: `ConfigError`."""
        self._last_fetch = time.monotonic()
        try:
            self._keys = await self._fetch()
            self._reachable = True
        except PyJWKClientConnectionError as exc:
            self._failed(exc)
        except _FETCH_ERRORS as exc:
            raise ConfigError(
                "jwt_jwks_url", f"{self.url} answered, but not with a JSON Web Key Set: {exc}"
            ) from None
        self._periodic = asyncio.create_task(self._refresh_forever(), name="jwks-refresh")

    async def close(self) -> None:
        await cancel_and_wait(self._periodic, self._fetching)
        self._periodic = None  # no early refetch after close

    def key_for(self, token: str) -> tuple[Any, list[str]]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise Denied(401, f"invalid token: {exc}") from None
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None and kid is None and len(self._keys) == 1:
            key = next(iter(self._keys.values()))  # one key: a token may omit its kid
        if key is not None:
            return key, [key.algorithm_name]
        self._refresh_soon()  # perhaps a key rotated in, or the endpoint is back
        if not self._reachable:
            raise Denied(503, "token keys unavailable: the JWKS endpoint does not answer")
        if kid is None:
            raise Denied(401, "invalid token: no kid in its header")
        raise Denied(401, f"invalid token: no key with kid {kid[:64]!r} in the JWKS")

    def _refresh_soon(self) -> None:
        due = self._last_fetch + min(self._refresh_seconds, EARLY_FETCH_SECONDS)
        if self._fetching is not None or time.monotonic() < due or self._periodic is None:
            return  # one fetch at a time, at most one per interval, and only once started
        self._fetching = asyncio.get_running_loop().create_task(self._refresh())
        self._fetching.add_done_callback(self._fetched)

    def _fetched(self, _: asyncio.Task[None]) -> None:
        self._fetching = None

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            await self._refresh()

    async def _refresh(self) -> None:
        """One fetch; on failure the last good set stays and the outage is logged once."""
        self._last_fetch = time.monotonic()
        try:
            self._keys = await self._fetch()
        except _FETCH_ERRORS as exc:
            self._failed(exc)
            return
        self._reachable = True
        if self._outage_logged:
            self._outage_logged = False
            log.info("JWKS reachable again", extra={"url": self.url, "keys": len(self._keys)})

    def _failed(self, exc: Exception) -> None:
        self._reachable = False
        if not self._outage_logged:
            self._outage_logged = True
            log.warning(
                "JWKS unreachable: tokens with unknown kids get 503 until it answers",
                extra={"url": self.url, "error": str(exc)},
            )

    async def _fetch(self) -> dict[str, PyJWK]:
        """The set's public signing keys by kid. Raises PyJWKClientConnectionError when the
        endpoint cannot be reached, another of `_FETCH_ERRORS` when its answer is no JWKS."""
        keys = await asyncio.to_thread(self._client.get_signing_keys)
        usable = {
            k.key_id: k for k in keys if k.key_id and k.algorithm_name in _PUBLIC_KEY_ALGORITHMS
        }
        if not usable:
            raise PyJWKSetError("no RSA, EC or Ed25519 signing key with a kid in the set")
        return usable


#: A fetch that failed: unreachable (PyJWKClientConnectionError, a PyJWTError), an answer
#: that is no usable set (PyJWKClientError, PyJWKSetError), or no JSON at all (ValueError).
_FETCH_ERRORS = (jwt.PyJWTError, ValueError)
