"""The common connect's request head and accept key in C (gateway/csrc/httphead.c).

A plain head (`GET /ws?user_id=... HTTP/1.1` and a few `name: value` lines of printable
ASCII) is the connect of nearly every client, and reading it in Python was a third of a
connect's instructions. `split_head` and `accept_for` are the compiled functions, or None
when the module fails to import or `GATEWAY_NO_SPEEDUPS=1` says not to use it (as
gateway/speedups.py does); then head.py and handshake.py take their general Python paths, which
give the same results (tests/unit/test_httphead.py).

The compiled functions answer only that plain form and return None for anything else, so
every head that is odd in any way (hostile ones included) is still read by the general
path, llhttp and all. A plain GET head is not given to llhttp: that form (a known
method, token names, printable values, CRLFs, an RFC 3986 target, no framing headers)
leaves it nothing to refuse, which the tests check against llhttp itself.
`quick_split` and `quick_accept` here are their Python twins: the executable
specification the tests hold the C to.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from gateway.speedups import FORCED_OFF, compiled

T = TypeVar("T", bound=tuple[Any, ...])

__all__ = ["FORCED_OFF", "HEAD_FIELDS", "accept_for", "quick_accept", "quick_split", "split_head"]

#: What `split_head` makes its result as: `Head` (head.py), a tuple of these six fields.
HEAD_FIELDS = ("method", "version", "path", "query", "headers", "rest")

_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
#: The plain request line: a GET of an origin-form target of RFC 3986's bytes (a '%' only
#: before two hex digits), HTTP/1.1 or 1.0.
_LINE = re.compile(rb"GET (/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*) HTTP/1\.([01])")
#: A plain header line: a token name, a colon, a value of printable ASCII, SP and HTAB.
_FIELD = re.compile(rb"(" + _TCHAR + rb"{1,256}):([\t\x20-\x7e]*)")


def quick_split(data: bytes, limit: int, head: type[T]) -> T | None:
    """The twin of `split_head`: the head of `data` (a connection's first read) as a
    `head` (a tuple of `HEAD_FIELDS`), if `data` holds a whole plain GET head within
    `limit` bytes (see httphead.c), else None."""
    if not isinstance(data, bytes) or limit < 0:
        return None
    end = data.find(b"\r\n\r\n", 0, min(len(data), limit))
    if end < 0:
        return None
    block = data[:end]
    if block.endswith(b"\r\n"):  # never so in a head: its last CRLF is its end's
        return None
    line, _, fields = block.partition(b"\r\n")
    match = _LINE.fullmatch(line)
    if match is None:
        return None
    version = f"1.{match[2].decode()}"
    headers: dict[str, str] = {}
    hosts = 0
    if fields:
        for field in fields.split(b"\r\n"):
            found = _FIELD.fullmatch(field)
            if found is None:
                return None
            key = found[1].decode("ascii").lower()
            value = found[2].decode("ascii").strip(" \t")
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
            hosts += key == "host"
    if hosts > 1 or (hosts == 0 and version == "1.1"):
        return None
    if "content-length" in headers or "transfer-encoding" in headers:
        return None
    path, _, query = match[1].partition(b"?")
    fields_ = (b"GET", version, path, query, headers, data[end + 4 :])
    return tuple.__new__(head, fields_)


_KEY = re.compile(r"[A-Za-z0-9+/]{22}==")
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def quick_accept(key: str) -> bytes | None:
    """The twin of `accept_for`: the Sec-WebSocket-Accept value for a key of the form every
    client makes (22 base64 digits and "=="), else None."""
    if _KEY.fullmatch(key) is None:
        return None
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _WS_GUID).digest())


class SplitHead(Protocol):
    """`split_head`'s type (the compiled function, `quick_split`'s twin)."""

    def __call__(self, data: bytes, limit: int, head: type[T], /) -> T | None: ...


def _load() -> tuple[SplitHead | None, Callable[[str], bytes | None] | None]:
    module = compiled("_httphead")
    if module is None:
        return None, None
    return cast(SplitHead, module.split_head), cast(
        Callable[[str], bytes | None], module.accept_for
    )


split_head, accept_for = _load()
