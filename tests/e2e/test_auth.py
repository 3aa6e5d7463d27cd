"""Nobody let in: JWTs for browsers, Origin allow-list, publish tokens and TLS for gRPC."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import aiohttp
import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from tests.support.gateway import StartGateway
from tests.support.helpers import request, self_signed_cert, users
from tests.support.tokens import SECRET, token


async def _status(http: aiohttp.ClientSession, port: int, **kw: object) -> int:
    try:
        ws = await http.ws_connect(f"http://127.0.0.1:{port}/ws", **kw)  # type: ignore[arg-type]
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def test_jwt_cases(start_gateway: StartGateway, http: aiohttp.ClientSession) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    port = gateway.http_port

    def params(**extra: str) -> dict[str, object]:
        return {"params": {"user_id": "alice", **extra}}

    assert await _status(http, port, **params()) == 401  # missing
    assert await _status(http, port, **params(token=token("alice", ttl=-5))) == 401  # expired
    forged = token("alice", secret="another-secret-that-is-long-enough")
    assert await _status(http, port, **params(token=forged)) == 401
    assert await _status(http, port, **params(token="not.a.jwt")) == 401
    no_exp = jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256")
    assert await _status(http, port, **params(token=no_exp)) == 401
    unsigned = jwt.encode({"sub": "alice", "exp": time.time() + 60}, None, algorithm="none")
    assert await _status(http, port, **params(token=unsigned)) == 401
    assert await _status(http, port, **params(token=token("bob"))) == 403  # someone else
    assert await _status(http, port, **params(token=token("alice"))) == 101
    header = {"Authorization": f"Bearer {token('alice')}"}
    assert await _status(http, port, headers=header, **params()) == 101


async def test_refusal_body_says_why(start_gateway: StartGateway, http) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    url = f"http://127.0.0.1:{gateway.http_port}/ws"
    async with http.get(url, params={"user_id": "alice", "token": token("bob")}) as response:
        assert response.status == 403
        assert await response.json() == {
            "error": "forbidden",
            "message": "token is for another user than user_id",
        }


async def test_connection_closes_with_4001_when_token_expires(
    start_gateway: StartGateway, http
) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    ws = await http.ws_connect(
        f"http://127.0.0.1:{gateway.http_port}/ws",
        params={"user_id": "alice", "token": token("alice", ttl=1.2)},
    )
    assert (await ws.receive_json())["event"] == "welcome"
    msg = await ws.receive(timeout=4)
    assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 4001


def _hs256_by_hand(claims: dict[str, object], key: bytes) -> str:
    """PyJWT refuses to sign with a PEM as an HMAC secret; an attacker's tool does not."""

    def b64(raw: bytes) -> bytes:
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(json.dumps(claims).encode())
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + b64(signature)).decode()


def _write_key(path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_public_key_tokens(
    start_gateway: StartGateway, http, tmp_path: Path, algorithm: str
) -> None:
    key = (
        rsa.generate_private_key(65537, 2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    _write_key(tmp_path / "key.pem", key)
    gateway = await start_gateway(jwt_public_key_file=tmp_path / "key.pem")
    good = jwt.encode({"sub": "alice", "exp": time.time() + 60}, key, algorithm=algorithm)
    port = gateway.http_port
    assert await _status(http, port, params={"user_id": "alice", "token": good}) == 101
    # an HS256 token "signed" with the public key text must not pass (algorithm confusion)
    confused = _hs256_by_hand(
        {"sub": "alice", "exp": int(time.time() + 60)}, (tmp_path / "key.pem").read_bytes()
    )
    assert await _status(http, port, params={"user_id": "alice", "token": confused}) == 401


async def test_origin_allow_list(start_gateway: StartGateway, http) -> None:
    gateway = await start_gateway(
        allowed_origins="https://app.example.com, https://admin.example.com"
    )
    port = gateway.http_port
    ok = {"params": {"user_id": "a"}}
    assert await _status(http, port, headers={"Origin": "https://evil.example"}, **ok) == 403
    assert await _status(http, port, headers={"Origin": "https://app.example.com"}, **ok) == 101
    assert await _status(http, port, **ok) == 101  # no Origin: not a browser


async def test_publish_tokens(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(publish_tokens="tok-one,tok-two")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        for metadata in [(), (("authorization", "Bearer wrong"),), (("authorization", "tok-one"),)]:
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await stub.Publish(request(users("a"), "x.y"), metadata=metadata)
            assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            async for _ in stub.PublishStream(iter([request(users("a"), "x.y")])):
                pass
        assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
        response = await stub.Publish(
            request(users("a"), "x.y"), metadata=(("authorization", "Bearer tok-two"),)
        )
        assert response.cursor
        health = health_pb2_grpc.HealthStub(channel)  # probes need no token
        check = await health.Check(health_pb2.HealthCheckRequest())
        assert check.status == health_pb2.HealthCheckResponse.SERVING


async def test_grpc_tls(start_gateway: StartGateway, tmp_path: Path) -> None:
    cert_pem = self_signed_cert(tmp_path)
    gateway = await start_gateway(
        grpc_tls_cert_file=tmp_path / "cert.pem", grpc_tls_key_file=tmp_path / "key.pem"
    )
    credentials = grpc.ssl_channel_credentials(root_certificates=cert_pem)
    async with grpc.aio.secure_channel(f"localhost:{gateway.grpc_port}", credentials) as channel:
        response = await pb_grpc.NotificationGatewayStub(channel).Publish(
            request(users("a"), "x.y")
        )
        assert response.cursor
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await pb_grpc.NotificationGatewayStub(channel).Publish(
                request(users("a"), "x.y"), timeout=2
            )
        assert failure.value.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
