"""Reading request heads with llhttp (gateway/websocket/head.py): targets, headers, limits."""

from __future__ import annotations

import gc

import pytest

from gateway.websocket.handshake import MAX_HEAD_BYTES, BadHandshake
from gateway.websocket.head import Head, HeadReader, request_path, split_target

UPGRADE = (
    b"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


def _read(data: bytes) -> Head:
    head = HeadReader().feed(data)
    assert head is not None
    return head


def _refused(*chunks: bytes) -> BadHandshake:
    reader = HeadReader()
    with pytest.raises(BadHandshake) as info:
        for chunk in chunks:
            reader.feed(chunk)
    return info.value


def _lines(*lines: bytes, start: bytes = b"GET /ws HTTP/1.1") -> bytes:
    return b"\r\n".join((start, *lines, b"", b""))


# request-targets


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        (b"/ws", b"/ws", b""),
        (b"/ws?", b"/ws", b""),
        (b"/ws?since=c-1", b"/ws", b"since=c-1"),
        (b"/ws?topics=a,b&token=x%20y", b"/ws", b"topics=a,b&token=x%20y"),
        (b"/ws?a?b", b"/ws", b"a?b"),
        (b"/ws?user_id=%C3%A9:@!$'()*+;=~._-", b"/ws", b"user_id=%C3%A9:@!$'()*+;=~._-"),
        (b"http://gateway.example/ws?user_id=a", b"/ws", b"user_id=a"),
        (b"HTTPS://gateway.example:8443/ws", b"/ws", b""),
        (b"http://[::1]:8080/ws?x=1", b"/ws", b"x=1"),
        (b"http://gateway.example", b"/", b""),
        (b"http://gateway.example?a=1", b"/", b"a=1"),
        (b"*", b"*", b""),
    ],
)
def test_targets_give_path_and_query(target: bytes, path: bytes, query: bytes) -> None:
    assert split_target(target) == (path, query)


@pytest.mark.parametrize(
    "target",
    [
        b"/ws?user_id=a#frag",
        b"/ws#top",
        b"/ws?a=b c",
        b"/ws?a={}",
        b"/ws?a=%",
        b"/ws?a=%4",
        b"/ws?a=%zz",
        b'/ws?a="b"',
        b"/ws?a=<b>",
        b"/ws?a=b|c",
        b"/ws?a=\\",
        b"/ws?a=^",
        b"/ws?a=`",
        b"/ws?a=[1]",
        b"http://gateway.example/ws#frag",
    ],
)
def test_characters_rfc_3986_forbids_are_400(target: bytes) -> None:
    with pytest.raises(BadHandshake) as info:
        split_target(target)
    assert (info.value.status, info.value.error) == (400, "bad_request")
    assert "RFC 3986" in info.value.message


def test_an_absolute_form_request_is_read_as_its_path() -> None:
    head = _read(_lines(b"Host: x", start=b"GET http://gateway.example/ws?user_id=a HTTP/1.1"))
    assert (head.method, head.path, head.query) == (b"GET", b"/ws", b"user_id=a")


# request lines


@pytest.mark.parametrize(
    ("start", "method", "path", "version"),
    [
        (b"GET /ws HTTP/1.1", b"GET", b"/ws", "1.1"),
        (b"POST /ws HTTP/1.1", b"POST", b"/ws", "1.1"),
        (b"GET /ws HTTP/1.0", b"GET", b"/ws", "1.0"),
        (b"GET /wsfoo HTTP/1.1", b"GET", b"/wsfoo", "1.1"),
        (b"GET /WS HTTP/1.1", b"GET", b"/WS", "1.1"),
        (b"HEAD /healthz HTTP/1.1", b"HEAD", b"/healthz", "1.1"),
    ],
)
def test_request_lines(start: bytes, method: bytes, path: bytes, version: str) -> None:
    head = _read(_lines(b"Host: x", start=start))
    assert (head.method, head.path, head.version) == (method, path, version)


@pytest.mark.parametrize(
    "start",
    [
        b"get /ws HTTP/1.1",
        b"GET /ws http/1.1",
        b"GET /ws HTTP/1.2",
        b"GET /ws HTTP/1.1 extra",
        b" GET /ws HTTP/1.1",
        b"GET\t/ws HTTP/1.1",
        b"GET /w\x00s HTTP/1.1",
        b"GET /ws?a=\xff HTTP/1.1",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
    ],
)
def test_malformed_request_lines_are_400(start: bytes) -> None:
    error = _refused(_lines(b"Host: x", start=start))
    assert (error.status, error.error) == (400, "bad_request")


@pytest.mark.parametrize("start", [b"GET /ws HTTP/2.0", b"GET /ws HTTP/0.9", b"GET /ws"])
def test_other_http_versions_are_505(start: bytes) -> None:
    error = _refused(_lines(b"Host: x", start=start))
    assert (error.status, error.error) == (505, "http_version_not_supported")


# header lines


def test_names_are_lower_cased_and_values_stripped() -> None:
    head = _read(
        _lines(b"Host: gateway.example", b"UPGRADE:websocket", b"Sec-WebSocket-Key: \tk==\t ")
    )
    assert head.headers == {
        "host": "gateway.example",
        "upgrade": "websocket",
        "sec-websocket-key": "k==",
    }


def test_an_empty_value_and_colons_in_values() -> None:
    head = _read(_lines(b"X-Empty:", b"Host: [::1]:8080"))
    assert head.headers == {"x-empty": "", "host": "[::1]:8080"}


def test_repeated_headers_are_joined() -> None:
    head = _read(
        _lines(b"Connection: keep-alive", b"Host: x", b"connection: Upgrade", b"CONNECTION: x")
    )
    assert head.headers == {"connection": "keep-alive, Upgrade, x", "host": "x"}


def test_values_are_read_as_latin_1() -> None:
    head = _read(_lines(b"Host: x", b"X-Name: caf\xe9"))
    assert head.headers == {"host": "x", "x-name": "caf\xe9"}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_lines(b"X-A: 1"), id="http-1.1-without-host"),
        pytest.param(_lines(b"Host: a", b"host: b"), id="two-hosts"),
        pytest.param(_lines(b"Host: a", b"Host: a", start=b"GET / HTTP/1.0"), id="1.0-two-hosts"),
    ],
)
def test_host_lines_other_than_one_are_400(data: bytes) -> None:
    """RFC 9112 §3.2: a server MUST answer 400; aiohttp would too, with a logged traceback."""
    error = _refused(data)
    assert (error.status, error.error) == (400, "bad_request")
    assert "Host" in error.message


def test_http_1_0_needs_no_host() -> None:
    assert _read(_lines(start=b"GET /healthz HTTP/1.0")).version == "1.0"


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"Host gateway.example", id="no-colon"),
        pytest.param(b": gateway.example", id="no-name"),
        pytest.param(b" folded continuation", id="obs-fold-space"),
        pytest.param(b"\tfolded continuation", id="obs-fold-tab"),
        pytest.param(b"X Name: value", id="space-in-name"),
        pytest.param(b"Host : gateway.example", id="space-before-colon"),
        pytest.param(b"X-Caf\xe9: value", id="non-ascii-name"),
        pytest.param(b"X(Name): value", id="separator-in-name"),
        pytest.param(b"X-Value: a\rb", id="cr-in-value"),
        pytest.param(b"X-Value: a\x00b", id="nul-in-value"),
        pytest.param(b"X-Value: a\x01b", id="control-in-value"),
        pytest.param(b"Content-Length: 1\r\nTransfer-Encoding: chunked", id="cl-and-te"),
        pytest.param(b"Content-Length: 1\r\nContent-Length: 2", id="two-lengths"),
    ],
)
def test_malformed_header_lines_are_400(line: bytes) -> None:
    error = _refused(_lines(b"Host: gateway.example", line, b"Upgrade: websocket"))
    assert (error.status, error.error) == (400, "bad_request")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"GET /ws HTTP/1.1\nHost: x\n\n", id="all-bare-lf"),
        pytest.param(b"GET /ws HTTP/1.1\r\nHost: x\n\r\n", id="one-bare-lf"),
        pytest.param(b"GET /ws HTTP/1.1\r\nHost: x\r\n\n", id="bare-lf-blank-line"),
    ],
)
def test_bare_lf_line_ends_are_400_at_once(data: bytes) -> None:
    """RFC 9112 §2.2 lets a server accept a bare LF; this one refuses it, without waiting."""
    error = _refused(data)
    assert (error.status, error.error) == (400, "bad_request")


# how much is read


def test_a_head_fed_a_byte_at_a_time_completes_on_its_last_byte() -> None:
    data = _lines(b"Host: x", start=b"GET /ws?user_id=a HTTP/1.1")
    reader = HeadReader()
    for i in range(len(data) - 1):
        assert reader.feed(data[i : i + 1]) is None
    head = reader.feed(data[-1:])
    assert head is not None and head.query == b"user_id=a"
    assert reader.received == data


def test_an_upgrade_gives_the_bytes_after_its_head() -> None:
    frames = b"\x81\x80abcd\x81\x80efgh"
    head = _read(b"GET /ws HTTP/1.1\r\n" + UPGRADE + b"\r\n" + frames)
    assert head.rest == frames


def test_a_pipelined_request_after_the_head_is_not_judged() -> None:
    head = _read(_lines(b"Host: x", start=b"GET /healthz HTTP/1.1") + b"\x00garbage\r\n\r\n")
    assert head.path == b"/healthz"


def test_the_first_request_is_the_one_read() -> None:
    first = _lines(b"Host: x", start=b"GET /ws?user_id=a HTTP/1.1")
    head = _read(first + _lines(b"Host: y", b"X-Other: 1", start=b"POST /other HTTP/1.0"))
    assert (head.method, head.path, head.query, head.version) == (
        b"GET",
        b"/ws",
        b"user_id=a",
        "1.1",
    )
    assert head.headers == {"host": "x"}


def test_a_head_of_the_largest_size_is_read() -> None:
    start = b"GET /ws HTTP/1.1\r\nHost: x\r\nX-Pad: "
    pad = b"a" * (MAX_HEAD_BYTES - len(start) - 4)
    assert _read(start + pad + b"\r\n\r\n").path == b"/ws"


@pytest.mark.parametrize("chunk", [1024, MAX_HEAD_BYTES + 100])
def test_a_head_over_the_limit_is_431_on_any_route(chunk: int) -> None:
    data = b"GET /healthz?" + b"a" * MAX_HEAD_BYTES + b" HTTP/1.1\r\n\r\n"
    error = _refused(*(data[i : i + chunk] for i in range(0, len(data), chunk)))
    assert (error.status, error.error) == (431, "header_too_large")


def test_a_closed_reader_leaves_no_reference_cycle() -> None:
    """The parser refers back to its reader; the connection closes it so no cycle is left
    for the garbage collector (whose full passes gc_policy.py keeps rare)."""
    gc.collect()
    gc.disable()
    try:
        for _ in range(100):
            reader = HeadReader()
            reader.feed(_lines(b"Host: x"))
            reader.close()
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_version_glued_to_the_target_is_http_0_9() -> None:
    """The version is read from the request line only when it stands after a space; the
    target `/a%20HTTP/1.1` is HTTP/0.9's, as llhttp reads it."""
    error = _refused(_lines(b"Host: x", start=b"GET /a%20HTTP/1.1"))
    assert (error.status, error.error) == (505, "http_version_not_supported")


def test_empty_lines_before_the_request_line_are_skipped() -> None:
    head = _read(b"\r\n\r\n" + _lines(b"Host: x", start=b"GET /ws?user_id=a HTTP/1.1"))
    assert (head.method, head.path, head.query, head.headers) == (
        b"GET",
        b"/ws",
        b"user_id=a",
        {"host": "x"},
    )


@pytest.mark.parametrize("cut", range(-2, 4))
def test_a_blank_line_split_over_two_reads_ends_the_head(cut: int) -> None:
    """The end of the head (CRLF CRLF) is found wherever the reads split it."""
    frames = b"\x81\x80abcd"
    data = b"GET /ws HTTP/1.1\r\n" + UPGRADE + b"\r\n" + frames
    split = len(data) - len(frames) - 4 + cut  # within the last four bytes of the head
    reader = HeadReader()
    assert reader.feed(data[:split]) is None
    head = reader.feed(data[split:])
    assert head is not None and head.rest == frames and head.headers["upgrade"] == "websocket"


def test_the_http_2_preface_is_400_at_once() -> None:
    """llhttp stops at `PRI * HTTP/2.0` without a word: the reader refuses it itself."""
    error = _refused(b"PRI * HTTP/2.0\r\n\r\n")
    assert (error.status, error.error) == (400, "bad_request")


def test_spaces_llhttp_lets_through_around_the_target_are_not_part_of_it() -> None:
    head = _read(_lines(b"Host: x", start=b"GET  /ws?user_id=a  HTTP/1.1"))
    assert (head.method, head.path, head.query) == (b"GET", b"/ws", b"user_id=a")


@pytest.mark.parametrize(
    ("received", "path"),
    [
        (b"GET /sse?user_id=a HTTP/1.1\r\nHost: x\r\n", b"/sse"),
        (bytearray(b"GET /sse?user_id=aaaa"), b"/sse"),  # the query still coming
        (b"GET /sse HTTP/1.", b"/sse"),
        (b"\r\nPOST /ws HTTP/1.1\r\n", b"/ws"),
        (b"GET http://h:1/sse?x HTTP/1.1\r\n", b"/sse"),
        (b"GET /ss", None),  # may yet be /sse, or /ssx
        (b"GET", None),
        (b"", None),
        (b"GET /a#b HTTP/1.1\r\n", None),  # no target RFC 3986 allows
    ],
)
def test_the_path_of_a_head_read_so_far(received: bytes | bytearray, path: bytes | None) -> None:
    """What a refusal before the head is complete goes by (whether to name WebSocket)."""
    assert request_path(received) == path
