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
from gateway.websocket.quick import HEAD_FIELDS, split_head

__all__ = ["Head", "HeadReader", "request_path", "split_target"]

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
    #: The bytes that followed the head in the read that completed it (for an upgrade:
    #: early frames).
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


def request_path(received: bytes | bytearray) -> bytes | None:
    """The path a request line names, once `received` (a head, maybe incomplete or
    refused) holds the whole of it; None before, or when it is not one."""
    head = bytes(received).lstrip(b"\r\n")  # llhttp skips empty lines before it
    end = head.find(b"\r\n")
    line = head[: len(head) if end < 0 else end].split()
    if len(line) < 2 or (end < 0 and len(line) == 2 and b"?" not in line[1]):
        return None  # the target may not have ended yet
    try:
        return split_target(line[1].partition(b"?")[0])[0]
    except BadHandshake:
        return None


_make_head = tuple_maker(Head)
#: The compiled reader makes `Head`s itself: only while `Head` is the shape it makes.
_split_head = split_head if Head._fields == HEAD_FIELDS else None


class _NoCallbacks:
    """What llhttp is given to call back: nothing (the reader splits the head itself).

    Each name is present, as None: httptools looks every callback up when it makes a
    parser, and a missing attribute costs an AttributeError made and cleared.
    """

    on_message_begin = on_url = on_header = on_headers_complete = None
    on_body = on_message_complete = on_chunk_header = on_chunk_complete = None


_NO_CALLBACKS = _NoCallbacks()


class HeadReader:
    """Feeds llhttp until the first request's head is complete; keeps every byte read.

    llhttp judges every byte of the head (strict mode: no bare LF, no obs-fold, token
    names, no control bytes in values, ...) but never calls back into Python: the reader
    finds the head's end (CRLF CRLF) itself and splits what llhttp accepted in one pass. A
    callback per header (and for the URL) cost more than the rest of the head's reading:
    each is a call from Cython into Python with two new bytes objects. Splitting what llhttp
    accepted gives the same fields: it accepts a line only as `name ":" OWS value OWS`, and
    the request line only as `method SP target SP HTTP-version` (or, for HTTP/0.9, without
    the version, which is then answered 505).

    llhttp is fed the head up to its last header line's CRLF, and the blank line after it
    unless the head is a GET with an Upgrade header and neither Content-Length nor
    Transfer-Encoding: llhttp answers an upgrade's blank line by raising, whose traceback
    Cython builds at ~5k instructions, and for such a head the blank line can add no error
    (what llhttp checks there is the framing headers, and the HTTP/2 preface's method).
    Nothing after the head is fed, so what follows it (early frames, a pipelined request)
    is never judged here.

    A plain GET head (the form nearly every client sends: see quick.py) that comes in one
    read is read by the compiled `split_head` instead, llhttp not fed: the form leaves it
    nothing to refuse, which tests/unit/test_httphead.py holds it to against llhttp
    itself. Every other head takes the path above.
    """

    __slots__ = ("_closed", "_fed", "_parser", "_scan", "received")

    def __init__(self) -> None:
        #: llhttp, made when first fed: a plain GET has nothing for it to judge (`_plain`).
        self._parser: httptools.HttpRequestParser | None = None
        self._closed = False
        #: How many bytes of `received` llhttp has been given.
        self._fed = 0
        #: Where the search for the head's end (CRLF CRLF) resumes.
        self._scan = 0
        #: Every byte received so far, for the handler the connection may be handed to: the
        #: first read as it came (most heads come in one), a bytearray once there are more.
        self.received: bytes | bytearray = b""

    def close(self) -> None:
        """Drop the parser (the reader is done)."""
        self._parser = None
        self._closed = True

    def _feed(self, stop: int) -> None:
        """Give llhttp the bytes it has not seen up to `stop`; `BadHandshake` (400) if it
        refuses them."""
        if self._closed:
            raise RuntimeError("the reader is closed")
        if stop > self._fed:
            parser = self._parser
            if parser is None:
                parser = self._parser = httptools.HttpRequestParser(_NO_CALLBACKS)
            try:
                parser.feed_data(self.received[self._fed : stop])
            except httptools.HttpParserUpgrade:
                pass  # the blank line of an upgrade with a Content-Length: judged, and fine
            except httptools.HttpParserError as exc:
                raise BadHandshake(400, "bad_request", f"malformed request head: {exc}") from None
            self._fed = stop

    def feed(self, data: bytes) -> Head | None:
        """The head if `data` completes it; None while it is still coming."""
        received = self.received
        if not received:
            if _split_head is not None:  # a plain GET head in one read: in C (quick.py)
                head = _split_head(data, MAX_HEAD_BYTES, Head)
                if head is not None:
                    self.received = data
                    return head
            received = self.received = data
        else:
            if isinstance(received, bytes):
                received = self.received = bytearray(received)
            received += data
        limit = min(len(received), MAX_HEAD_BYTES)  # llhttp never sees more than a head may hold
        while True:
            end = received.find(b"\r\n\r\n", self._scan, limit)
            if end < 0:
                self._feed(limit)
                if len(received) >= MAX_HEAD_BYTES:
                    message = f"the request head is over {MAX_HEAD_BYTES} bytes"
                    raise BadHandshake(431, "header_too_large", message)
                self._scan = max(limit - 3, 0)
                return None
            block = bytes(received[:end])
            if not block or block.startswith(b"\r"):  # empty lines before the request line: llhttp
                block = block.lstrip(b"\r\n")  # skips them (and refuses a bare LF)
                if not block:
                    self._feed(end + 4)
                    self._scan = end + 4
                    continue
            line, _, fields = block.partition(b"\r\n")
            if line.startswith(b"PRI "):  # llhttp stops at the HTTP/2 preface, silently
                raise BadHandshake(400, "bad_request", "malformed request head: HTTP/2 preface")
            headers, hosts = _fields(fields)
            self._feed(end + 2)
            if (
                not line.startswith(b"GET ")
                or "upgrade" not in headers
                or "content-length" in headers
                or "transfer-encoding" in headers
            ):
                self._feed(end + 4)
            return self._head(line, headers, hosts, bytes(received[end + 4 :]))

    def _head(self, line: bytes, headers: dict[str, str], hosts: int, after: bytes) -> Head:
        """The `Head` of the request head llhttp accepted; `BadHandshake` if it is not one
        that is served here."""
        proto = line[-9:]
        if proto == b" HTTP/1.1":
            version = "1.1"
        elif proto == b" HTTP/1.0":
            version = "1.0"
        else:
            parser = self._parser
            version = "0.9" if parser is None else parser.get_http_version()
            message = f"HTTP/{version} is not spoken here: use HTTP/1.1"
            raise BadHandshake(505, "http_version_not_supported", message)
        method, _, target = line[:-9].partition(b" ")
        target = target.strip(b" ")  # llhttp lets more than one space through
        if hosts > 1 or (hosts == 0 and version == "1.1"):
            message = "an HTTP/1.1 request needs exactly one Host header (RFC 9112 §3.2)"
            raise BadHandshake(400, "bad_request", message)
        path, query = split_target(target)
        return _make_head((method, version, path, query, headers, after))


def _fields(fields: bytes) -> tuple[dict[str, str], int]:
    """The header lines llhttp accepted, as `Head.headers`, and how many were Host lines."""
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
    return headers, hosts
