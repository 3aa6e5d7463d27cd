"""The opening handshake as bytes: the accept key and the responses."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.connection.admission import Refusal, read_handshake
from gateway.websocket.handshake import (
    BadHandshake,
    accept_key,
    refusal,
    switching_protocols,
)
from gateway.websocket.head import HeadReader

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3
RFC_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def _headers(*header_lines: bytes) -> dict[str, str]:
    """The headers of a `GET /ws` request head as llhttp reads them (head.py)."""
    head = HeadReader().feed(b"\r\n".join((b"GET /ws HTTP/1.1", *header_lines, b"", b"")))
    assert head is not None
    return head.headers


def offered_subprotocols(headers: dict[str, str]) -> list[str]:
    """The offer as the handshake reads it once (connection/admission.py)."""
    handshake = read_handshake("/ws", "", headers)
    if isinstance(handshake, Refusal):
        raise BadHandshake(handshake.status, handshake.error, handshake.message)
    return list(handshake.subprotocols)


def _upgrade(**overrides: str | None) -> dict[str, str]:
    """Valid upgrade headers (names lower-cased, as `Head.request` gives them); None drops one."""
    headers: dict[str, str | None] = {
        "host": "gateway.example",
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": RFC_KEY,
    }
    headers.update({name.replace("_", "-"): value for name, value in overrides.items()})
    return {name: value for name, value in headers.items() if value is not None}


def _refused(headers: dict[str, str]) -> BadHandshake:
    with pytest.raises(BadHandshake) as info:
        accept_key(headers)
    return info.value


def _parse_response(response: bytes) -> tuple[bytes, dict[str, str], bytes]:
    """(status line, headers lower-cased, body) of an HTTP/1.1 response, checking its framing."""
    head, separator, body = response.partition(b"\r\n\r\n")
    assert separator, "no blank line after the head"
    status_line, *lines = head.split(b"\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.decode("ascii").partition(":")
        assert colon and name == name.strip(), line
        assert name.lower() not in headers, f"{name} sent twice"
        headers[name.lower()] = value.strip()
    return status_line, headers, body


def _tokens(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",")}


# accept_key and switching_protocols


def test_accept_key_rfc_6455_example() -> None:
    assert accept_key(_upgrade()) == RFC_ACCEPT


def test_parsed_head_to_101_response() -> None:
    headers = _headers(
        b"Host: server.example.com",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + RFC_KEY.encode(),
        b"Origin: http://example.com",
        b"Sec-WebSocket-Version: 13",
    )
    response = switching_protocols(accept_key(headers))
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )


def test_101_names_the_selected_subprotocol() -> None:
    response = switching_protocols(RFC_ACCEPT, "notifications.v1")
    status_line, headers, body = _parse_response(response)
    assert status_line == b"HTTP/1.1 101 Switching Protocols"
    assert headers["sec-websocket-protocol"] == "notifications.v1"
    assert headers["sec-websocket-accept"] == RFC_ACCEPT.decode()
    assert body == b""
    assert "sec-websocket-protocol" not in _parse_response(switching_protocols(RFC_ACCEPT))[1]


# offered_subprotocols


@pytest.mark.parametrize(
    ("value", "offered"),
    [
        (None, []),
        ("", []),
        ("notifications.v1", ["notifications.v1"]),
        ("notifications.v1,bearer.eyJ0.eyJz.c2ln", ["notifications.v1", "bearer.eyJ0.eyJz.c2ln"]),
        ("a, b ,\tc", ["a", "b", "c"]),
        ("a,,b, ,", ["a", "b"]),  # empty list elements are skipped (RFC 9110 §5.6.1)
        ("chat, chat", ["chat", "chat"]),
    ],
)
def test_offered_subprotocols(value: str | None, offered: list[str]) -> None:
    headers = {} if value is None else {"sec-websocket-protocol": value}
    assert offered_subprotocols(headers) == offered


def test_repeated_subprotocol_headers_are_one_list() -> None:
    headers = _headers(
        b"Host: x", b"Sec-WebSocket-Protocol: notifications.v1", b"sec-websocket-protocol: bearer.x"
    )
    assert offered_subprotocols(headers) == ["notifications.v1", "bearer.x"]


@pytest.mark.parametrize(
    "value",
    [
        "notifications v1",
        "a;b",
        '"notifications.v1"',
        "a/b",
        "bearer.secret=(x)",
        "a,b c",
        "caf\xe9",
        "a@b",
    ],
)
def test_a_subprotocol_that_is_not_a_token_is_400_without_quoting_it(value: str) -> None:
    with pytest.raises(BadHandshake) as info:
        offered_subprotocols({"sec-websocket-protocol": value})
    assert info.value.status == 400
    assert info.value.error == "bad_handshake"
    assert "Sec-WebSocket-Protocol: element" in info.value.message
    assert "secret" not in info.value.message and "b c" not in info.value.message


@given(st.text(alphabet=st.characters(max_codepoint=255), max_size=40))
def test_any_offer_is_a_list_of_tokens_or_400(value: str) -> None:
    try:
        offered = offered_subprotocols({"sec-websocket-protocol": value})
    except BadHandshake as exc:
        assert exc.status == 400 and exc.message.startswith("Sec-WebSocket-Protocol: element ")
    else:
        assert offered == [p.strip(" \t") for p in value.split(",") if p.strip(" \t")]
        for name in offered:
            assert name.isascii() and name.isprintable() and not {*name} & {*',; "()/@'}


@pytest.mark.parametrize(
    ("upgrade", "connection"),
    [
        ("WebSocket", "upgrade"),
        ("WEBSOCKET", "UPGRADE"),
        ("websocket", "keep-alive, Upgrade"),
        ("websocket", "Upgrade,keep-alive"),
        ("h2c, websocket", "keep-alive,  upgrade "),
    ],
)
def test_accept_key_reads_tokens_case_insensitively(upgrade: str, connection: str) -> None:
    assert accept_key(_upgrade(upgrade=upgrade, connection=connection)) == RFC_ACCEPT


@pytest.mark.parametrize("upgrade", [None, "", "h2c", "websockets"])
def test_no_websocket_upgrade_is_426(upgrade: str | None) -> None:
    error = _refused(_upgrade(upgrade=upgrade))
    assert error.status == 426
    assert error.error == "upgrade_required"


def test_426_comes_before_other_checks() -> None:
    error = _refused({"host": "gateway.example"})
    assert error.status == 426


@pytest.mark.parametrize("connection", [None, "", "keep-alive", "close", "upgrades"])
def test_connection_without_upgrade_is_400(connection: str | None) -> None:
    error = _refused(_upgrade(connection=connection))
    assert error.status == 400
    assert error.error == "bad_handshake"
    assert "Connection" in error.message


@pytest.mark.parametrize("version", [None, "", "8", "12", "14", "13, 8", " 13x"])
def test_unsupported_version_is_400(version: str | None) -> None:
    error = _refused(_upgrade(sec_websocket_version=version))
    assert error.status == 400
    assert error.error == "bad_handshake"
    assert "13" in error.message


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("dGhlIHNhbXBsZSBub25jZQ", id="unpadded"),
        pytest.param("dGhlIHNhbXBsZSBub25jZQ=", id="short-padding"),
        pytest.param("dGhlIHNhbXBsZSBub25jZQ===", id="extra-padding"),
        pytest.param("dGhlIHNhbXBs ZSBub25jZQ==", id="inner-space"),
        pytest.param("dGhlIHNhbXBsZSBub25jZQ-_", id="urlsafe-alphabet"),
        pytest.param("not base64 at all!", id="garbage"),
        pytest.param("dGhlIHNhbXBsZSBub25j\xe9Q==", id="non-ascii"),
        pytest.param(base64.b64encode(bytes(15)).decode(), id="15-bytes"),
        pytest.param(base64.b64encode(bytes(17)).decode(), id="17-bytes"),
        pytest.param(base64.b64encode(bytes(32)).decode(), id="32-bytes"),
        pytest.param(f"{RFC_KEY}, {RFC_KEY}", id="sent-twice"),
    ],
)
def test_key_that_is_not_16_bytes_of_base64_is_400(key: str | None) -> None:
    error = _refused(_upgrade(sec_websocket_key=key))
    assert error.status == 400
    assert error.error == "bad_handshake"
    assert "Sec-WebSocket-Key" in error.message


def test_accept_key_for_another_key() -> None:
    key = base64.b64encode(bytes(range(16))).decode()  # "AAECAwQFBgcICQoLDA0ODw=="
    assert accept_key(_upgrade(sec_websocket_key=key)) == b"Bz3qJYTGdOe8gUSpLosEdiLKDrk="


def test_missing_host_is_400() -> None:
    error = _refused(_upgrade(host=None))
    assert error.status == 400


# refusal


@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (400, b"Bad Request"),
        (401, b"Unauthorized"),
        (403, b"Forbidden"),
        (426, b"Upgrade Required"),
        (429, b"Too Many Requests"),
        (431, b"Request Header Fields Too Large"),
        (503, b"Service Unavailable"),
    ],
)
def test_refusal_is_a_complete_json_response(status: int, phrase: bytes) -> None:
    body = {"error": "bad_handshake", "message": 'quote " and caf\xe9 \u2713', "field": "topics"}
    status_line, headers, payload = _parse_response(refusal(status, body))
    assert status_line == b"HTTP/1.1 %d %s" % (status, phrase)
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert int(headers["content-length"]) == len(payload)
    assert json.loads(payload) == body
    assert "close" in _tokens(headers["connection"])


def test_426_refusal_names_the_upgrade() -> None:
    _, headers, _ = _parse_response(refusal(426, {"error": "upgrade_required", "message": "m"}))
    assert headers["upgrade"] == "websocket"
    assert headers["sec-websocket-version"] == "13"


@pytest.mark.parametrize("status", [400, 403, 431])
def test_other_refusals_name_no_upgrade(status: int) -> None:
    _, headers, _ = _parse_response(refusal(status, {"error": "e", "message": "m"}))
    assert "upgrade" not in headers
    assert headers["connection"] == "close"


def test_refusal_of_a_bad_handshake_end_to_end() -> None:
    error = _refused(
        _headers(b"Host: gateway.example", b"Upgrade: websocket", b"Connection: close")
    )
    status_line, headers, payload = _parse_response(
        refusal(error.status, {"error": error.error, "message": error.message})
    )
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert headers["connection"] == "close"
    assert json.loads(payload) == {"error": "bad_handshake", "message": error.message}


def test_426_refusal_lists_upgrade_in_connection() -> None:
    _, headers, _ = _parse_response(refusal(426, {"error": "upgrade_required", "message": "m"}))
    assert _tokens(headers["connection"]) >= {"upgrade", "close"}


def test_unsupported_version_refusal_lists_13() -> None:
    error = _refused(_upgrade(sec_websocket_version="8"))
    response = refusal(error.status, {"error": error.error, "message": error.message})
    _, headers, _ = _parse_response(response)
    assert headers.get("sec-websocket-version") == "13"


@given(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ é",
        min_size=18,
        max_size=28,
    )
)
def test_keys_are_judged_as_base64_reads_them(key: str) -> None:
    """The common key's form is checked first, without decoding it; every key is still
    accepted exactly when it is 16 bytes in strict base64 (and given the same accept)."""
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        valid = False
    headers = _upgrade(sec_websocket_key=key)
    if not valid:
        assert _refused(headers).status == 400
        return
    digest = hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    assert accept_key(headers) == base64.b64encode(digest)
