"""Tokens as browsers send them: the `bearer.<jwt>` subprotocol beside `notifications.v1`.

Real gateway, real clients: aiohttp's, the `websockets` library's, and a raw socket where
the exact bytes of the 101 response matter.
"""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.support.gateway import StartGateway
from tests.support.tokens import SECRET, token

V1 = "notifications.v1"


async def _status(http: aiohttp.ClientSession, port: int, user_id: str, **kw: object) -> int:
    """101 with the welcome read, or the refusal's HTTP status."""
    url = f"http://127.0.0.1:{port}/ws"
    try:
        ws = await http.ws_connect(url, params={"user_id": user_id}, **kw)  # type: ignore[arg-type]
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    assert (await ws.receive_json(timeout=3))["event"] == "welcome"
    await ws.close()
    return 101


async def _raw_upgrade(port: int, *header_lines: str, query: str = "user_id=alice") -> bytes:
    """The server's whole answer to an upgrade request sent byte for byte (head, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [
        f"GET /ws?{query} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        *header_lines,
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    if head.startswith(b"HTTP/1.1 101 "):
        body = b""
    else:
        body = await asyncio.wait_for(reader.read(), 3)  # refusals close the connection
    writer.close()
    return head + body


def _headers(head: bytes) -> dict[str, str]:
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _body(answer: bytes) -> dict[str, str]:
    body: dict[str, str] = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    return body


async def test_token_in_the_subprotocol_with_aiohttp(start_gateway: StartGateway, http) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    url = f"http://127.0.0.1:{gateway.http_port}/ws"
    ws = await http.ws_connect(
        url, params={"user_id": "alice"}, protocols=(V1, "bearer." + token("alice"))
    )
    assert ws.protocol == V1
    welcome = await ws.receive_json(timeout=3)
    assert welcome["event"] == "welcome" and welcome["user_id"] == "alice"
    await ws.close()
    port = gateway.http_port
    assert await _status(http, port, "alice", protocols=(V1, "bearer." + token("bob"))) == 403
    assert await _status(http, port, "alice", protocols=(V1, "bearer.not.a.jwt")) == 401
    assert await _status(http, port, "alice", protocols=(V1,)) == 401  # no token anywhere
    assert await _status(http, port, "alice", protocols=(V1, "bearer.")) == 401


async def test_token_in_the_subprotocol_with_websockets(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    url = f"ws://127.0.0.1:{gateway.http_port}/ws?user_id=alice"
    offer = [Subprotocol(V1), Subprotocol("bearer." + token("alice"))]
    async with ws_connect(url, subprotocols=offer) as ws:
        assert ws.subprotocol == V1
        assert json.loads(await asyncio.wait_for(ws.recv(), 3))["event"] == "welcome"
        await ws.send(json.dumps({"op": "refresh", "token": token("alice", ttl=600)}))
        refreshed = json.loads(await asyncio.wait_for(ws.recv(), 3))
        assert refreshed["event"] == "refreshed"
    forged = [Subprotocol(V1), Subprotocol("bearer." + token("alice") + "x")]
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(url, subprotocols=forged):
            pass
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(url, subprotocols=[Subprotocol("graphql-ws")]):
            pass
    assert refused.value.response.status_code == 400


async def test_the_101_selects_v1_and_never_echoes_the_token(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    secret = token("alice")
    answer = await _raw_upgrade(
        gateway.http_port, f"Sec-WebSocket-Protocol: chat, bearer.{secret}, {V1}"
    )
    assert answer.startswith(b"HTTP/1.1 101 ")
    assert _headers(answer)["sec-websocket-protocol"] == V1
    assert answer.count(b"Sec-WebSocket-Protocol") == 1
    assert secret.encode() not in answer
    # the header may also come as two lines (RFC 6455 §11.3.4)
    answer = await _raw_upgrade(
        gateway.http_port,
        f"Sec-WebSocket-Protocol: {V1}",
        f"Sec-WebSocket-Protocol: bearer.{secret}",
    )
    assert _headers(answer)["sec-websocket-protocol"] == V1


async def test_no_subprotocol_offered_selects_none(start_gateway: StartGateway, http) -> None:
    gateway = await start_gateway()
    ws = await http.ws_connect(f"http://127.0.0.1:{gateway.http_port}/ws?user_id=a")
    assert ws.protocol is None
    await ws.close()
    answer = await _raw_upgrade(gateway.http_port)
    assert answer.startswith(b"HTTP/1.1 101 ")
    assert "sec-websocket-protocol" not in _headers(answer)


async def test_without_jwt_v1_is_selected_and_a_bearer_is_ignored(
    start_gateway: StartGateway, http
) -> None:
    gateway = await start_gateway()
    url = f"http://127.0.0.1:{gateway.http_port}/ws"
    for offer in [(V1,), ("chat", V1), (V1, "bearer.anything")]:
        ws = await http.ws_connect(url, params={"user_id": "a"}, protocols=offer)
        assert ws.protocol == V1, offer
        assert (await ws.receive_json(timeout=3))["event"] == "welcome"
        await ws.close()


@pytest.mark.parametrize("jwt_on", [False, True])
@pytest.mark.parametrize(
    "offer", ["chat", "notifications.v2, graphql-ws", "bearer.x", "NOTIFICATIONS.V1"]
)
async def test_an_offer_without_v1_is_400_naming_it(
    start_gateway: StartGateway, offer: str, jwt_on: bool
) -> None:
    gateway = await start_gateway(**({"jwt_secret": SECRET} if jwt_on else {}))
    answer = await _raw_upgrade(gateway.http_port, f"Sec-WebSocket-Protocol: {offer}")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]
    body = _body(answer)
    assert body["error"] == "unsupported_subprotocol"
    assert V1 in body["message"]
    assert "bearer.x" not in body["message"]


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (f"Sec-WebSocket-Protocol: {V1} bearer.abc", "bad_handshake"),  # space, not comma
        (f"Sec-WebSocket-Protocol: {V1}; bearer.abc", "bad_handshake"),
        (f'Sec-WebSocket-Protocol: "{V1}"', "bad_handshake"),
        (f"Sec-WebSocket-Protocol: {V1}, bearer.abc, bearer.def", "bad_handshake"),
    ],
)
async def test_a_malformed_offer_is_400_without_quoting_it(
    start_gateway: StartGateway, header: str, error: str
) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    answer = await _raw_upgrade(gateway.http_port, header)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]
    body = _body(answer)
    assert body["error"] == error
    assert "abc" not in body["message"] and "def" not in body["message"]


async def test_token_precedence_subprotocol_header_query(start_gateway: StartGateway, http) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    port = gateway.http_port
    good, bad = token("alice"), token("alice") + "x"

    async def status(sub: str | None, header: str | None, query: str | None) -> int:
        kw: dict[str, object] = {}
        if sub is not None:
            kw["protocols"] = (V1, "bearer." + sub)
        if header is not None:
            kw["headers"] = {"Authorization": f"Bearer {header}"}
        params = {"user_id": "alice", **({"token": query} if query is not None else {})}
        url = f"http://127.0.0.1:{port}/ws"
        try:
            ws = await http.ws_connect(url, params=params, **kw)  # type: ignore[arg-type]
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 101

    assert await status(good, bad, bad) == 101
    assert await status(bad, good, good) == 401
    assert await status(None, good, bad) == 101
    assert await status(None, bad, good) == 401
    assert await status(None, None, good) == 101


async def test_no_token_is_logged(
    start_gateway: StartGateway, http, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = await start_gateway(jwt_secret=SECRET)
    port = gateway.http_port
    secrets = [token(user, ttl=600 + i) for i, user in enumerate(["alice", "bob", "alice", "x"])]
    assert await _status(http, port, "alice", protocols=(V1, "bearer." + secrets[0])) == 101
    assert await _status(http, port, "alice", protocols=(V1, "bearer." + secrets[1])) == 403
    headers = {"Authorization": f"Bearer {secrets[2]}x"}
    assert await _status(http, port, "alice", headers=headers) == 401
    await _raw_upgrade(port, f"Sec-WebSocket-Protocol: {V1}; bearer.{secrets[3]}")
    ws = await http.ws_connect(
        f"http://127.0.0.1:{port}/ws?user_id=alice", protocols=(V1, "bearer." + secrets[0])
    )
    await ws.receive_json(timeout=3)
    await ws.send_json({"op": "refresh", "token": secrets[1]})  # bob's: refused
    assert (await ws.receive_json(timeout=3))["code"] == "bad_token"
    await ws.send_json({"op": "refresh", "token": secrets[0] + "garbage"})
    error = await ws.receive_json(timeout=3)
    assert error["code"] == "bad_token" and "garbage" not in error["message"]
    await ws.close()
    await gateway.drain()
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records  # the drain at least logs: the capture works
    for secret in secrets:
        for part in secret.split("."):
            assert part not in logged
