"""The opening handshake and request-line rules (RFC 6455 §4, RFC 9112) against the live server.

Each case sends a head over a raw socket and checks the status, the error code and the
field named; every refusal comes at once (no case waits for the head timeout).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any

import pytest

from gateway.app import Gateway
from tests.support.wsraw import KEY, RawClient, exchange, upgrade

ACCEPT = base64.b64encode(
    hashlib.sha1(KEY.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
)


def _answer(answer: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(status_line.split(" ")[1])
    json_body = headers.get("content-type", "").startswith("application/json")
    payload = json.loads(body) if json_body else {}
    return status, headers, payload


def _head(target: str, *lines: str, start: str = "GET {} HTTP/1.1") -> bytes:
    return ("\r\n".join([start.format(target), *lines, "", ""])).encode("latin-1")


STANDARD = (
    "Host: x",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    f"Sec-WebSocket-Key: {KEY}",
)


UPGRADES: list[Any] = [
    pytest.param(upgrade("/ws?user_id=a"), id="origin-form"),
    pytest.param(upgrade("http://gateway.example/ws?user_id=a"), id="absolute-form"),
    pytest.param(upgrade("HTTPS://gateway.example:8443/ws?user_id=a"), id="absolute-https"),
    pytest.param(b"\r\n" + upgrade("/ws?user_id=a"), id="leading-empty-line"),
    pytest.param(upgrade("/ws?user_id=a&cache=1&x="), id="unknown-params"),
    pytest.param(upgrade("/ws?user_id=%C3%A9t%C3%A9"), id="utf8-user-id"),
    pytest.param(upgrade("/ws?user_id=a+b").replace(b"a+b", b"a%2Bb"), id="plus-encoded"),
    pytest.param(
        _head(
            "/ws?user_id=a",
            "host: x",
            "upgrade: WebSocket",
            "connection: keep-alive, UPGRADE",
            "sec-websocket-version: 13",
            f"sec-websocket-key: {KEY}",
        ),
        id="header-case",
    ),
]


@pytest.mark.parametrize("data", UPGRADES)
async def test_valid_upgrades_get_101(gateway: Gateway, data: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.http_port)
    writer.write(data)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    status, headers, _ = _answer(head)
    assert status == 101
    assert headers["upgrade"].lower() == "websocket"
    assert headers["sec-websocket-accept"] == ACCEPT.decode()
    welcome = await RawClient(reader, writer).event()
    assert welcome["event"] == "welcome"
    writer.close()


async def test_user_ids_decode_strictly(gateway: Gateway) -> None:
    client = await RawClient.open(gateway.http_port, "%C3%A9t%C3%A9")
    client.close()
    presence, _ = await gateway.service.presence(["été"], None)
    assert presence == {"été": 1}


REFUSALS: list[Any] = [
    # the request line
    pytest.param(upgrade("/ws?user_id=a#frag"), 400, "bad_request", None, id="fragment"),
    pytest.param(upgrade("/ws?user_id=a b"), 400, "bad_request", None, id="space-in-target"),
    pytest.param(upgrade("/ws?user_id={a}"), 400, "bad_request", None, id="brace"),
    pytest.param(upgrade("/ws?user_id=a%G1"), 400, "bad_request", None, id="bad-percent"),
    pytest.param(upgrade("/ws?user_id=a", version="1.0"), 400, "bad_handshake", None, id="1.0"),
    pytest.param(
        upgrade("/ws?user_id=a", version="2.0"), 505, "http_version_not_supported", None, id="2.0"
    ),
    pytest.param(
        upgrade("/ws?user_id=a").replace(b"GET", b"get", 1),
        400,
        "bad_request",
        None,
        id="lower-case-method",
    ),
    pytest.param(
        upgrade("/ws?user_id=a").replace(b"\r\n", b"\n"), 400, "bad_request", None, id="bare-lf"
    ),
    pytest.param(
        upgrade("/ws?user_id=a").replace(b"\r\n", b"\n", 1),
        400,
        "bad_request",
        None,
        id="bare-lf-request-line",
    ),
    pytest.param(
        upgrade("/ws?user_id=a", "X: " + "a" * 17_000 + "\r\n"),
        431,
        "header_too_large",
        None,
        id="head-over-16k",
    ),
    # the query
    pytest.param(upgrade("/ws?user_id=%FF"), 400, "invalid_request", "user_id", id="user-id-ff"),
    pytest.param(upgrade("/ws?user_id=%FE"), 400, "invalid_request", "user_id", id="user-id-fe"),
    pytest.param(
        upgrade("/ws?user_id=a&topics=%C3"),
        400,
        "invalid_request",
        "topics",
        id="topics-truncated-utf8",
    ),
    pytest.param(upgrade("/ws?user_id=a&%FF=1"), 400, "invalid_request", "query", id="bad-key"),
    pytest.param(
        upgrade("/ws?user_id=a&since=1-%C2%B2"),
        400,
        "invalid_request",
        "since",
        id="since-unicode-digit",
    ),
    pytest.param(
        upgrade("/ws?user_id=a&since=x"), 400, "invalid_request", "since", id="since-not-a-cursor"
    ),
    pytest.param(
        upgrade("/ws?user_id=a&user_id=b"), 400, "invalid_request", "user_id", id="user-id-twice"
    ),
    pytest.param(upgrade("/ws"), 400, "invalid_request", "user_id", id="no-user-id"),
    # the headers
    pytest.param(_head("/ws?user_id=a", *STANDARD[1:]), 400, "bad_request", None, id="no-host"),
    pytest.param(
        _head("/ws?user_id=a", "Host: y", *STANDARD), 400, "bad_request", None, id="two-hosts"
    ),
    pytest.param(_head("/ws?user_id=a", "Host: x"), 426, "upgrade_required", None, id="plain-get"),
    pytest.param(
        _head("/ws?user_id=a", *STANDARD[:2], *STANDARD[3:]),
        400,
        "bad_handshake",
        None,
        id="no-connection-upgrade",
    ),
    pytest.param(
        _head("/ws?user_id=a", *STANDARD[:3], "Sec-WebSocket-Version: 8", STANDARD[4]),
        400,
        "bad_handshake",
        None,
        id="version-8",
    ),
    pytest.param(
        _head("/ws?user_id=a", *STANDARD[:4], "Sec-WebSocket-Key: c2hvcnQ="),
        400,
        "bad_handshake",
        None,
        id="short-key",
    ),
    pytest.param(
        _head("/ws?user_id=a", *STANDARD, " folded"), 400, "bad_request", None, id="obs-fold"
    ),
    pytest.param(
        _head("/ws?user_id=a", *STANDARD, "X Y: z"), 400, "bad_request", None, id="space-in-name"
    ),
    pytest.param(
        _head("/ws?user_id=a", *STANDARD, "X: a\x00b"), 400, "bad_request", None, id="nul-in-value"
    ),
    pytest.param(
        _head("/ws?user_id=a", *STANDARD, "Content-Length: 5"),
        413,
        "content_too_large",
        None,
        id="body",
    ),
    pytest.param(
        _head("/ws?user_id=a", *STANDARD, "Transfer-Encoding: chunked", "Content-Length: 5"),
        400,
        "bad_request",
        None,
        id="te-and-cl",
    ),
]


@pytest.mark.parametrize(("data", "status", "error", "field"), REFUSALS)
async def test_refusals(
    gateway: Gateway, data: bytes, status: int, error: str, field: str | None
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = await exchange(gateway.http_port, data)
    assert loop.time() - started < 1.5  # answered at once, not at the head timeout
    got, headers, body = _answer(answer)
    assert (got, body.get("error")) == (status, error), answer[:300]
    assert body.get("field") == field, body
    assert headers["connection"].lower().endswith("close")
    assert headers["sec-websocket-version"] == "13"


@pytest.mark.parametrize(
    "data",
    [
        b"POST /ws HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /wsfoo HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /ws/ HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
async def test_other_routes_are_aiohttps(gateway: Gateway, data: bytes) -> None:
    status, _, _ = _answer(await exchange(gateway.http_port, data))
    assert status in (404, 405)


async def test_ff_and_fe_never_become_one_user(gateway: Gateway) -> None:
    """Decoded leniently both were U+FFFD: the same user as a real U+FFFD, and each other."""
    client = await RawClient.open(gateway.http_port, "%EF%BF%BD")  # a real U+FFFD
    for raw in ("%FF", "%FE"):
        status, _, body = _answer(await exchange(gateway.http_port, upgrade(f"/ws?user_id={raw}")))
        assert (status, body["field"]) == (400, "user_id")
    assert (await gateway.service.presence(["\ufffd"], None))[0] == {"\ufffd": 1}
    assert len(gateway.service.hub) == 1
    client.close()
