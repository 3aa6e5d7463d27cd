"""JWT keys: a JWKS URL served by a real local HTTP server, aud/iss, keys checked at start."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gateway.app import Gateway
from gateway.auth import TokenVerifier
from gateway.config import ConfigError, Settings
from tests.support.gateway import StartGateway
from tests.support.tokens import SECRET


class Jwks:
    """A JWKS endpoint on a free port whose keys and health the test changes."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | str] = {}
        #: "jwks", "down" (HTTP 503) or "html" (200 with a page: a wrong URL)
        self.answer = "jwks"
        self.fetches = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    def add(self, kid: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | str) -> None:
        self.keys[kid] = key

    def document(self) -> dict[str, Any]:
        entries = []
        for kid, key in self.keys.items():
            if isinstance(key, str):  # a shared secret: must never be used from a JWKS
                k = base64.urlsafe_b64encode(key.encode()).rstrip(b"=").decode()
                entries.append({"kty": "oct", "k": k, "kid": kid, "alg": "HS256"})
                continue
            public = key.public_key()
            if isinstance(public, rsa.RSAPublicKey):
                entry = RSAAlgorithm.to_jwk(public, as_dict=True)
            else:
                entry = ECAlgorithm.to_jwk(public, as_dict=True)
            entries.append({**entry, "kid": kid, "use": "sig"})
        return {"keys": entries}

    async def _serve(self, _: web.Request) -> web.Response:
        self.fetches += 1
        if self.answer == "down":
            return web.Response(status=503, text="down")
        if self.answer == "html":
            return web.Response(text="<html>sign in</html>", content_type="text/html")
        return web.json_response(self.document())

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/jwks.json", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/.well-known/jwks.json"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def jwks() -> Any:
    server = Jwks()
    await server.start()
    yield server
    await server.stop()


def _token(key: Any, kid: str | None, algorithm: str, sub: str = "alice", **claims: Any) -> str:
    headers = {"kid": kid} if kid is not None else None
    payload = {"sub": sub, "exp": int(time.time() + 60), **claims}
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


async def _status(http: aiohttp.ClientSession, gateway: Gateway, token: str) -> int:
    url = f"http://127.0.0.1:{gateway.http_port}/ws"
    try:
        ws = await http.ws_connect(url, params={"user_id": "alice", "token": token})
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def _eventually(probe: Any, want: int, within: float = 5.0) -> int:
    deadline = time.monotonic() + within
    while True:
        got = await probe()
        if got == want or time.monotonic() > deadline:
            return int(got)
        await asyncio.sleep(0.1)


RSA_KEY = rsa.generate_private_key(65537, 2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


async def test_jwks_keys_by_kid(start_gateway: StartGateway, jwks: Jwks, http) -> None:
    jwks.add("rsa-1", RSA_KEY)
    jwks.add("ec-1", EC_KEY)
    jwks.add("shared", SECRET)  # a secret published by mistake: anyone could sign with it
    gateway = await start_gateway(jwt_jwks_url=jwks.url)
    assert jwks.fetches == 1  # fetched at start, before the first connect
    assert await _status(http, gateway, _token(RSA_KEY, "rsa-1", "RS256")) == 101
    assert await _status(http, gateway, _token(EC_KEY, "ec-1", "ES256")) == 101
    # a kid that names another key than the one that signed: bad signature
    assert await _status(http, gateway, _token(RSA_KEY, "ec-1", "RS256")) == 401
    other = rsa.generate_private_key(65537, 2048)
    assert await _status(http, gateway, _token(other, "rsa-1", "RS256")) == 401
    assert await _status(http, gateway, _token(other, "nobody", "RS256")) == 401
    assert await _status(http, gateway, _token(SECRET, "rsa-1", "HS256")) == 401
    assert await _status(http, gateway, _token(SECRET, "shared", "HS256")) == 401
    assert await _status(http, gateway, _token(RSA_KEY, None, "RS256")) == 401  # two keys
    assert await _status(http, gateway, "not.a.jwt") == 401
    assert await _status(http, gateway, _token(RSA_KEY, "rsa-1", "RS256", sub="bob")) == 403


async def test_jwks_rotation_is_picked_up(start_gateway: StartGateway, jwks: Jwks, http) -> None:
    jwks.add("old", RSA_KEY)
    gateway = await start_gateway(jwt_jwks_url=jwks.url, jwt_jwks_refresh_seconds=0.3)
    jwks.add("new", EC_KEY)
    new = _token(EC_KEY, "new", "ES256")
    assert await _eventually(lambda: _status(http, gateway, new), 101) == 101
    del jwks.keys["old"]
    old = _token(RSA_KEY, "old", "RS256")
    assert await _eventually(lambda: _status(http, gateway, old), 401) == 401


@pytest.mark.parametrize("outage", ["down", "html"])
async def test_unreachable_jwks_is_503_with_one_warning(
    start_gateway: StartGateway, jwks: Jwks, http, caplog: pytest.LogCaptureFixture, outage: str
) -> None:
    jwks.add("k1", RSA_KEY)
    gateway = await start_gateway(jwt_jwks_url=jwks.url, jwt_jwks_refresh_seconds=0.1)
    caplog.set_level(logging.INFO, logger="gateway.auth")
    jwks.answer = outage
    fetches = jwks.fetches
    unknown = _token(EC_KEY, "k2", "ES256")
    assert await _eventually(lambda: _status(http, gateway, unknown), 503) == 503
    for _ in range(100):  # several failed refreshes
        if jwks.fetches >= fetches + 5:
            break
        await asyncio.sleep(0.05)
    assert jwks.fetches >= fetches + 5
    # a kid already known is still verified: the last good set is kept
    assert await _status(http, gateway, _token(RSA_KEY, "k1", "RS256")) == 101
    ours = [r for r in caplog.records if r.name == "gateway.auth"]
    warnings = [r for r in ours if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "JWKS unreachable: tokens with unknown kids get 503 until it answers"
    ]
    assert not any(r.exc_info for r in caplog.records)  # lines, not tracebacks
    jwks.answer = "jwks"
    jwks.add("k2", EC_KEY)
    assert await _eventually(lambda: _status(http, gateway, unknown), 101) == 101
    assert "JWKS reachable again" in [r.getMessage() for r in caplog.records]


async def test_jwks_down_at_start_still_starts_and_answers_503(
    start_gateway: StartGateway, jwks: Jwks, http
) -> None:
    jwks.answer = "down"
    gateway = await start_gateway(jwt_jwks_url=jwks.url)
    assert await _status(http, gateway, _token(RSA_KEY, "k1", "RS256")) == 503
    url = f"http://127.0.0.1:{gateway.http_port}/ws"
    async with http.get(url, params={"user_id": "alice", "token": "x.y.z"}) as response:
        assert response.status == 401  # not even a JWT: no key would help


@pytest.mark.parametrize(
    ("answer", "keys", "why"),
    [
        ("html", {}, "Expecting value"),
        ("jwks", {}, "did not contain any keys"),
        ("jwks", {"a": SECRET}, "no RSA, EC or Ed25519 signing key"),
    ],
)
async def test_a_url_that_answers_no_jwks_stops_the_start(
    jwks: Jwks, answer: str, keys: dict[str, Any], why: str
) -> None:
    jwks.answer = answer
    jwks.keys.update(keys)
    gateway = Gateway(Settings(http_port=0, grpc_port=0, jwt_jwks_url=jwks.url))
    with pytest.raises(ConfigError) as failure:
        await gateway.start()
    assert failure.value.field == "jwt_jwks_url"
    assert failure.value.rule.startswith(f"{jwks.url} answered, but not with a JSON Web Key Set")
    assert why in failure.value.rule


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"aud": "notifications", "iss": "https://idp.example"}, 101),
        ({"aud": ["other", "notifications"], "iss": "https://idp.example"}, 101),
        ({"aud": "other", "iss": "https://idp.example"}, 401),
        ({"aud": "notifications", "iss": "https://evil.example"}, 401),
        ({"iss": "https://idp.example"}, 401),
        ({"aud": "notifications"}, 401),
    ],
)
async def test_audience_and_issuer(
    start_gateway: StartGateway, http, claims: dict[str, Any], status: int
) -> None:
    gateway = await start_gateway(
        jwt_secret=SECRET, jwt_audience="notifications", jwt_issuer="https://idp.example"
    )
    assert await _status(http, gateway, _token(SECRET, None, "HS256", **claims)) == status


async def test_audience_and_issuer_over_jwks(start_gateway: StartGateway, jwks: Jwks, http) -> None:
    jwks.add("k1", RSA_KEY)
    gateway = await start_gateway(jwt_jwks_url=jwks.url, jwt_audience="notifications")
    good = _token(RSA_KEY, "k1", "RS256", aud="notifications")
    assert await _status(http, gateway, good) == 101
    assert await _status(http, gateway, _token(RSA_KEY, "k1", "RS256", aud="x")) == 401


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (b"garbage", "is not a PEM public key"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "is not a PEM public"),
        (
            RSA_KEY.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "is not a PEM public key",
        ),
        (
            rsa.generate_private_key(65537, 1024)
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "an RSA key needs 2048 bits or more, not 1024",
        ),
    ],
)
def test_public_key_is_checked_when_the_gateway_is_built(
    tmp_path: Path, content: bytes, rule: str
) -> None:
    (tmp_path / "key.pem").write_bytes(content)
    with pytest.raises(ConfigError) as failure:
        Gateway(Settings(jwt_public_key_file=tmp_path / "key.pem"))
    assert failure.value.field == "jwt_public_key_file" and rule in failure.value.rule


def test_claims_are_exposed() -> None:
    verifier = TokenVerifier.from_secret(SECRET)
    token = _token(SECRET, None, "HS256", topics=["news", "orders.*"])
    claims = verifier.claims(token, "alice")
    assert claims["sub"] == "alice" and claims["topics"] == ["news", "orders.*"]
