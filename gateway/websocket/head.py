"""The request head of every connection on the HTTP port, read with llhttp (httptools).

`HeadReader.feed()` takes bytes as they arrive and returns the `Head` once the request line
and headers are complete (None until then). Only the first request on a connection is
read; what follows its head is left alone. What the head may not be raises `BadHandshake`:

- 400 `bad_request`: anything llhttp refuses (bare LF line ends, obsolete line folding, a
  bad header name or value, Content-Length with Transfer-Encoding, ...), a request-target
  with characters RFC 3986 does not allow (`#`, spaces, `{`, a `%` not followed by two hex
  digits), and an HTTP/1.1 request without exactly one Host line (RFC 9112 §3.2);
- 431 `header_too_large`: a head over `MAX_HEAD_BYTES`, whatever the route;
- 505 `http_version_not_supported`: a version other than HTTP/1.0 and HTTP/1.1.

The target comes back as path and query, in origin-form (`/ws?a=b`) or absolute-form
(`http://host/ws?a=b`, which RFC 9112 §3.2.2 says a server must accept).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import httptools

from gateway.models import tuple_maker
from gateway.websocket.handshake import MAX_HEAD_BYTES, BadHandshake

__all__ = ["Head", "HeadReader", "split_target"]

#: The bytes RFC 3986 §3.3-3.4 allow in a path and query: pchar, "/" and "?" (a "%" also
#: needs two hex digits after it: `_BAD_PERCENT`). Checked with `bytes.translate`, which
#: costs a tenth of a regex walking the target byte by byte.
_TARGET_BYTES = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?%"
)
_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
#: The scheme and authority of an absolute-form target (RFC 3986 §3.1-3.2).
_ABSOLUTE = re.compile(rb"(?i:https?)://[A-Za-z0-9\-._~!$&'()*+,;=:@%\[\]]*")


class Head(NamedTuple):
    """A complete request head as llhttp read it."""

    method: bytes
    #: "1.0" or "1.1".
    version: str
    path: bytes
    query: bytes
    #: Names lower-cased, values without surrounding whitespace and read as Latin-1 (RFC
    #: 9110 §5.5: obs-text is opaque bytes); a header sent more than once has its values
    #: joined with ", " (RFC 9110 §5.3).
    headers: dict[str, str]
    #: For an upgrade request: the bytes that followed the head (early frames).
    rest: bytes

    @property
    def has_body(self) -> bool:
        """Whether a body follows (a Transfer-Encoding, or a Content-Length other than 0)."""
        headers = self.headers
        return "transfer-encoding" in headers or headers.get("content-length", "0") != "0"


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """The path and query of a request-target; `BadHandshake` (400) if RFC 3986 forbids it.

    An absolute-form target (`http://host/ws?q`) gives its path and query; asterisk- and
    authority-form give themselves as the path, which no route of ours matches.
    """
    absolute = None if target.startswith(b"/") else _ABSOLUTE.match(target)
    if absolute is not None:
        target = target[absolute.end() :] or b"/"
        if not target.startswith((b"/", b"?")):
            raise BadHandshake(400, "bad_request", "malformed absolute-form request-target")
        if target.startswith(b"?"):
            target = b"/" + target
    # `find`, not `in`: bytes' `in` first tries its operand as an int (an error made and
    # cleared: ~2k instructions per connect)
    if target.translate(None, _TARGET_BYTES) or (
        target.find(b"%") >= 0 and _BAD_PERCENT.search(target)
    ):
        message = (
            "the request-target has characters RFC 3986 does not allow there "
            "(such as '#', spaces or a '%' without two hex digits)"
        )
        raise BadHandshake(400, "bad_request", message)
    path, _, query = target.partition(b"?")
    return path, query


_make_head = tuple_maker(Head)


class HeadReader:
    """Feeds llhttp until the first request's head is complete; keeps every byte read.

    llhttp judges every byte of the head (strict mode: no bare LF, no obs-fold, token
    names, no control bytes in values, ...), but calls back into Python only once, when the
    head is complete: the request line and header lines are then split here in one pass.
    A callback per header (and for the URL) cost more than the rest of the head's reading:
    each is a call from Cython into Python with two new bytes objects. Splitting what llhttp
    accepted gives the same fields: it accepts a line only as `name ":" OWS value OWS`, and
    the request line only as `method SP target SP HTTP-version` (or, for HTTP/0.9, without
    the version, which is then answered 505). llhttp is fed only up to the end of the first
    head, so what follows it (early frames, a pipelined request) is never judged here.
    """

    __slots__ = ("_complete", "_fed", "_parser", "_scan", "_upgraded", "received")

    def __init__(self) -> None:
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._complete = False
        self._upgraded = False
        #: How many bytes of `received` llhttp has been given.
        self._fed = 0
        #: Where the search for the head's end (CRLF CRLF) resumes.
        self._scan = 0
        #: Every byte received so far, for the handler the connection may be handed to: the
        #: first read as it came (most heads come in one), a bytearray once there are more.
        self.received: bytes | bytearray = b""

    # llhttp's one callback: what follows the head is not ours to read.
    def on_headers_complete(self) -> None:
        self._complete = True

    def close(self) -> None:
        """Drop the parser, which refers back to this reader: a cycle only the GC would free
        (and full GC passes are what gc_policy.py keeps rare)."""
        self._parser = None

    def feed(self, data: bytes) -> Head | None:
        """The head if `data` completes it; None while it is still coming."""
        parser = self._parser
        if parser is None:
            raise RuntimeError("the reader is closed")
        received = self.received
        if not received:
            received = self.received = data
        else:
            if isinstance(received, bytes):
                received = self.received = bytearray(received)
            received += data
        limit = min(len(received), MAX_HEAD_BYTES)  # llhttp never sees more than a head may hold
        while True:
            end = received.find(b"\r\n\r\n", self._scan, limit)
            stop = limit if end < 0 else end + 4
            if stop > self._fed:
                try:
                    parser.feed_data(received[self._fed : stop])
                except httptools.HttpParserUpgrade:
                    self._upgraded = True
                except httptools.HttpParserError as exc:
                    raise BadHandshake(
                        400, "bad_request", f"malformed request head: {exc}"
                    ) from None
                self._fed = stop
            if self._complete:
                return self._head(parser, bytes(received[:end]), received[end + 4 :])
            if end < 0:
                if len(received) >= MAX_HEAD_BYTES:
                    message = f"the request head is over {MAX_HEAD_BYTES} bytes"
                    raise BadHandshake(431, "header_too_large", message)
                self._scan = max(limit - 3, 0)
                return None
            self._scan = end + 4  # empty lines before the request line (llhttp skips them)

    def _head(
        self, parser: httptools.HttpRequestParser, block: bytes, after: bytes | bytearray
    ) -> Head:
        """The `Head` of the request head llhttp accepted (`block`, without its blank line)."""
        if block.startswith(b"\r"):
            block = block.lstrip(b"\r\n")
        line, _, fields = block.partition(b"\r\n")
        proto = line[-9:]
        if proto == b" HTTP/1.1":
            version = "1.1"
        elif proto == b" HTTP/1.0":
            version = "1.0"
        else:
            version = parser.get_http_version()
            message = f"HTTP/{version} is not spoken here: use HTTP/1.1"
            raise BadHandshake(505, "http_version_not_supported", message)
        method, _, target = line[:-9].partition(b" ")
        headers: dict[str, str] = {}
        hosts = 0
        if fields:
            for field in fields.decode("latin-1").split("\r\n"):
                name, _, value = field.partition(":")
                key = name.lower()  # llhttp lets only token characters through
                value = value.strip(" \t")
                if key in headers:
                    headers[key] = f"{headers[key]}, {value}"
                else:
                    headers[key] = value
                if key == "host":
                    hosts += 1
        if hosts > 1 or (hosts == 0 and version == "1.1"):
            message = "an HTTP/1.1 request needs exactly one Host header (RFC 9112 §3.2)"
            raise BadHandshake(400, "bad_request", message)
        path, query = split_target(target)
        rest = bytes(after) if self._upgraded else b""
        return _make_head((method, version, path, query, headers, rest))
