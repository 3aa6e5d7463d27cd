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
    if target.translate(None, _TARGET_BYTES) or (b"%" in target and _BAD_PERCENT.search(target)):
        message = (
            "the request-target has characters RFC 3986 does not allow there "
            "(such as '#', spaces or a '%' without two hex digits)"
        )
        raise BadHandshake(400, "bad_request", message)
    path, _, query = target.partition(b"?")
    return path, query


class HeadReader:
    """Feeds llhttp until the first request's head is complete; keeps every byte read."""

    __slots__ = (
        "_complete",
        "_headers",
        "_hosts",
        "_method",
        "_parser",
        "_url",
        "_version",
        "received",
    )

    def __init__(self) -> None:
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        #: The request-target; a bytearray only once it came in more than one piece.
        self._url: bytes | bytearray = b""
        self._headers: dict[str, str] = {}
        self._hosts = 0
        self._complete = False
        self._method = b""
        self._version = ""
        #: Every byte received so far, for the handler the connection may be handed to: the
        #: first read as it came (most heads come in one), a bytearray once there are more.
        self.received: bytes | bytearray = b""

    # llhttp's callbacks; once the head is complete, what follows is not ours to read.
    def on_url(self, url: bytes) -> None:
        if not self._complete:
            if not self._url:
                self._url = url
            else:
                if isinstance(self._url, bytes):
                    self._url = bytearray(self._url)
                self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._complete:
            return
        key = name.decode("ascii").lower()  # llhttp lets only token characters through
        text = value.strip(b" \t").decode("latin-1")
        headers = self._headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
        if key == "host":
            self._hosts += 1

    def on_headers_complete(self) -> None:
        parser = self._parser
        if parser is not None and not self._complete:  # now: llhttp may go on to the next
            self._complete = True
            self._method = parser.get_method()
            self._version = parser.get_http_version()

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
        start = len(received)
        if not start:
            self.received = data
        else:
            if isinstance(received, bytes):
                received = self.received = bytearray(received)
            received += data
        room = MAX_HEAD_BYTES - start  # llhttp never sees more than a head may hold
        chunk = data if len(data) <= room else data[:room]
        rest = b""
        try:
            parser.feed_data(chunk)
        except httptools.HttpParserUpgrade as exc:
            rest = data[int(exc.args[0]) :]  # the offset is into `chunk`, a prefix of `data`
        except httptools.HttpParserError as exc:
            # An error after the head belongs to a pipelined request: not ours to judge.
            if not self._complete:
                raise BadHandshake(400, "bad_request", f"malformed request head: {exc}") from None
        if not self._complete:
            if start + len(data) >= MAX_HEAD_BYTES:
                message = f"the request head is over {MAX_HEAD_BYTES} bytes"
                raise BadHandshake(431, "header_too_large", message)
            return None
        version = self._version
        if version not in ("1.0", "1.1"):
            message = f"HTTP/{version} is not spoken here: use HTTP/1.1"
            raise BadHandshake(505, "http_version_not_supported", message)
        hosts = self._hosts
        if hosts > 1 or (hosts == 0 and version == "1.1"):
            message = "an HTTP/1.1 request needs exactly one Host header (RFC 9112 §3.2)"
            raise BadHandshake(400, "bad_request", message)
        path, query = split_target(bytes(self._url))
        return Head(self._method, version, path, query, self._headers, rest)
