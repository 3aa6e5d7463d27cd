"""The WebSocket opening handshake as bytes (RFC 6455 §4.2), sans-I/O.

The HTTP port's protocol (websocket/protocol.py) reads every request head with llhttp
(head.py); a `GET /ws` over HTTP/1.1 is admitted (connection/admission.py, which also reads
the offered subprotocols), checked as an upgrade here (`accept_key`) and answered with
bytes built here: `switching_protocols` or `refusal`. Every other request is aiohttp's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from http import HTTPStatus

from gateway.websocket.quick import accept_for

__all__ = [
    "MAX_HEAD_BYTES",
    "BadHandshake",
    "accept_key",
    "refusal",
    "switching_protocols",
]

#: A request head (request line and headers) larger than this is refused with 431.
MAX_HEAD_BYTES = 16 * 1024
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class BadHandshake(ValueError):
    """The request cannot be upgraded: the HTTP status, error code and reason to answer with."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def accept_key(headers: dict[str, str]) -> bytes:
    """The Sec-WebSocket-Accept value for a valid upgrade request; `BadHandshake` otherwise.

    No `Upgrade: websocket` at all is 426 (a plain GET); a broken upgrade is 400.
    """
    # Each check compares the value every client sends first (a string compare), and reads
    # the value as the RFC spells it only when that fails: the token sets, the base64
    # decode and a Python frame for each cost a connect ~15k instructions.
    upgrade = headers.get("upgrade", "")
    if upgrade != "websocket" and "websocket" not in _tokens(upgrade):
        raise BadHandshake(426, "upgrade_required", "connect with a WebSocket upgrade")
    host = headers.get("host", "")
    if not host or "," in host:  # a comma: sent more than once (the head reader joined them)
        raise BadHandshake(400, "bad_handshake", "exactly one Host header is required")
    connection = headers.get("connection", "")
    if connection != "Upgrade" and "upgrade" not in _tokens(connection):
        raise BadHandshake(400, "bad_handshake", "the Connection header must include Upgrade")
    version = headers.get("sec-websocket-version", "")
    if version != "13":
        message = f"unsupported Sec-WebSocket-Version {version!r}: this server speaks 13"
        raise BadHandshake(400, "bad_handshake", message)
    key = headers.get("sec-websocket-key", "")
    if accept_for is not None:  # the key of every client, in C (quick.py)
        accepted = accept_for(key)
        if accepted is not None:
            return accepted
    if _KEY.fullmatch(key) is None and not _is_key(key):
        message = f"Sec-WebSocket-Key must be 16 bytes in base64, got {key!r}"
        raise BadHandshake(400, "bad_handshake", message)
    return binascii.b2a_base64(_sha1(key.encode("ascii") + _WS_GUID).digest(), newline=False)


#: The form of every key a client makes: 16 bytes in base64 are 22 digits and "==".
_KEY = re.compile(r"[A-Za-z0-9+/]{22}==")
_sha1 = hashlib.sha1


def _is_key(key: str) -> bool:
    """Whether `key` is 16 bytes in base64 (RFC 6455 §4.2.1), as `base64` reads it."""
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def switching_protocols(accept: bytes, selected: str | None = None) -> bytes:
    """The 101 response that completes the upgrade, naming the `selected` subprotocol if any
    (no extension)."""
    protocol = b"" if selected is None else b"Sec-WebSocket-Protocol: %s\r\n" % selected.encode()
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n" + protocol + b"\r\n"
    )


def refusal(
    status: int,
    body: dict[str, str],
    *,
    websocket: bool = True,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """A complete JSON error response that also closes the connection.

    The refusal of what may be an upgrade (`websocket`) names the protocol version spoken
    here (RFC 6455 §4.4); one of another route's request (`/sse`) names nothing of
    WebSocket. A 426 also names the upgrade it asks for (RFC 9110 §7.8). `headers` are
    the caller's (CORS for a refused `/sse`, so that a page may read why), from settings
    or constants, never copied from the request unchecked.
    """
    payload = json.dumps(body).encode()  # as aiohttp's json_response writes it
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    connection = (
        "Upgrade: websocket\r\nConnection: Upgrade, close"
        if status == 426
        else ("Connection: close")
    )
    return (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(payload)}\r\n"
        f"{_VERSION if websocket else ''}{extra}{connection}\r\n\r\n"
    ).encode() + payload


_VERSION = "Sec-WebSocket-Version: 13\r\n"


def _tokens(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",")}
