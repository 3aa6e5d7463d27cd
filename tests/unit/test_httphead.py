"""The compiled connect head reader and accept key (gateway/csrc/httphead.c) against their
Python twins (gateway/websocket/quick.py) and against the general Python paths they skip."""

from __future__ import annotations

import base64
import contextlib
import gc
import shutil
import subprocess
import sys
import sysconfig
import tracemalloc
from pathlib import Path

import httptools
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.websocket import handshake, head, quick
from gateway.websocket.handshake import BadHandshake, accept_key
from gateway.websocket.head import Head, HeadReader

_SOURCE = Path(__file__).resolve().parents[2] / "gateway" / "csrc" / "httphead.c"
_PROPERTY = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))

needs_c = pytest.mark.skipif(
    quick.split_head is None or quick.accept_for is None,
    reason="gateway._httphead is not built (or GATEWAY_NO_SPEEDUPS=1)",
)


def test_the_module_is_built_unless_turned_off() -> None:
    # the dev install compiles it: a broken build must not pass as "the Python path"
    if quick.FORCED_OFF:
        assert quick.split_head is None and quick.accept_for is None
    else:
        assert quick.split_head is not None and quick.accept_for is not None


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc")
def test_the_c_source_compiles_without_warnings(tmp_path: Path) -> None:
    include = sysconfig.get_paths()["include"]
    cmd = ["gcc", "-Wall", "-Wextra", "-Werror", "-std=c11", "-O2", "-fPIC", "-shared"]
    cmd += [f"-I{include}", str(_SOURCE), "-o", str(tmp_path / "httphead.so")]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# -- heads: what clients send, and what they should not --------------------------------------

_PLAIN_LINES = [
    b"Host: 127.0.0.1:8080",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    b"Sec-WebSocket-Version: 13",
]
_ODD_BYTES = b' \t\r\n:%?#/\x00\x7f\x80\xe9\xff,;="()<>@[]{}\\|^`~'
_chunk = st.one_of(
    st.sampled_from(
        [b"ws", b"user_id=u1", b"%41", b"%4", b"%zz", b"?", b"&", b"-", b"Host", b"host", b"HOST"]
    ),
    st.binary(max_size=6),
    st.lists(st.sampled_from(list(_ODD_BYTES)), max_size=3).map(bytes),
    st.text("abcXYZ019-_.~!$&'*+", max_size=8).map(str.encode),
)
_word = st.lists(_chunk, max_size=4).map(b"".join)
_method = st.one_of(st.sampled_from([b"GET", b"POST", b"PRI", b"get", b"G T", b""]), _word)
_target = st.one_of(
    st.sampled_from([b"/ws?user_id=u1", b"/ws", b"/", b"*", b"http://h/ws?a=1", b"/ws?a=%C3%A9"]),
    _word.map(lambda w: b"/" + w),
    _word,
)
_version = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 ", b"http/1.1", b""])
_space = st.sampled_from([b" ", b"  ", b"\t", b""])
_sep = st.sampled_from([b"\r\n"] * 6 + [b"\n", b"\r", b"\r\r\n"])
_name = st.one_of(
    st.sampled_from(
        [b"Host", b"host", b"Upgrade", b"Connection", b"Content-Length", b"Transfer-Encoding"]
    ),
    _word,
)
_value = st.one_of(st.sampled_from([b"websocket", b"Upgrade", b" x ", b"\tx", b"", b"0"]), _word)
_header = st.one_of(
    st.sampled_from(_PLAIN_LINES),
    st.tuples(_name, st.sampled_from([b":", b": ", b" :", b""]), _value).map(b"".join),
)


@st.composite
def _heads(draw: st.DrawFn) -> bytes:
    """Heads that are mostly plain, each part odd now and then (so both paths are taken)."""

    def part(plain: bytes, odd: st.SearchStrategy[bytes]) -> bytes:
        return plain if draw(st.integers(0, 5)) else draw(odd)

    line = b"".join(
        (
            part(b"GET", _method),
            part(b" ", _space),
            part(b"/ws?user_id=u1", _target),
            part(b" ", _space),
            part(b"HTTP/1.1", _version),
        )
    )
    plain_header = st.sampled_from(_PLAIN_LINES[1:])
    host = part(_PLAIN_LINES[0], _header)
    headers = draw(st.lists(st.one_of(plain_header, plain_header, _header), max_size=7))
    out = b""
    for field in (line, host, *headers):
        out += field + part(b"\r\n", _sep)
    return out + draw(st.sampled_from([b"\r\n", b"\r\n\x81\x80", b"\r\nGET / HTTP/1.1\r\n"]))


_PLAIN = b"GET /ws?user_id=u1 HTTP/1.1\r\n" + b"\r\n".join(_PLAIN_LINES) + b"\r\n\r\n"


@needs_c
@_PROPERTY
@given(data=st.one_of(_heads(), st.binary(max_size=300)), limit=st.integers(-2, 400))
@example(data=_PLAIN, limit=16384)
@example(data=_PLAIN, limit=len(_PLAIN) - 1)
@example(data=b"GET / HTTP/1.1\r\n\r\n", limit=100)
@example(data=b"GET / HTTP/1.0\r\n\r\n", limit=100)
@example(data=b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", limit=100)
@example(data=b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nx:2\r\n\r\nrest", limit=100)
@example(data=b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", limit=100)
@example(data=b"GET / HTTP/1.1\r\nHost: a\r\n" + b"N" * 257 + b": v\r\n\r\n", limit=999)
def test_the_compiled_split_is_its_twin(data: bytes, limit: int) -> None:
    assert quick.split_head is not None
    fast = quick.split_head(data, limit, Head)
    twin = quick.quick_split(data, limit, Head)
    assert fast == twin
    assert type(fast) is type(twin)
    assert quick.split_head(bytearray(data), limit, Head) is None  # Python's, as the twin's


def test_the_plain_form_is_split_by_the_twin() -> None:
    # the common connect must take the compiled path, or it saves nothing
    got = quick.quick_split(_PLAIN + b"\x81", 16384, Head)
    assert got is not None
    assert got[:4] == (b"GET", "1.1", b"/ws", b"user_id=u1")
    assert got.headers["sec-websocket-key"] == "dGhlIHNhbXBsZSBub25jZQ=="
    assert got.rest == b"\x81"


def test_the_compiled_reader_makes_heads_of_the_current_shape() -> None:
    assert Head._fields == quick.HEAD_FIELDS  # else head.py stops using it: say so here


def _outcome(
    data: bytes, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> Head | tuple[object, ...]:
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setattr(head, "_split_head", None)
        try:
            result = HeadReader().feed(data)
        except BadHandshake as exc:
            return (exc.status, exc.error, exc.message)
        assert result is not None
        return result


@needs_c
@_PROPERTY
@given(data=_heads())
@example(data=_PLAIN)
@example(data=b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
@example(data=b"GET /ws HTTP/1.0\r\n\r\n")
@example(data=b"POST /sse/ops HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
@example(data=b"GET /ws HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
def test_the_compiled_path_reads_heads_as_the_general_path(
    data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _outcome(data, True, monkeypatch) == _outcome(data, False, monkeypatch)


_token = st.text("!#$%&'*+-.^_`|~09azAZ", min_size=1, max_size=12)
_plain_value = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"), max_size=20
)


@needs_c
@_PROPERTY
@given(
    fields=st.lists(st.tuples(_token, _plain_value), max_size=8),
    target=st.text("abcXYZ09-._~!$&'()*+,;=:@/?", max_size=20),
    version=st.sampled_from(["1.1", "1.0"]),
)
@example(fields=[("Connection", "close, upgrade"), ("Upgrade", "h2c")], target="", version="1.1")
@example(fields=[("Expect", "100-continue"), ("Proxy-Connection", "x")], target="", version="1.1")
def test_llhttp_accepts_every_plain_get_it_is_spared(
    fields: list[tuple[str, str]], target: str, version: str
) -> None:
    # head.py gives llhttp no plain GET head (no framing headers): it would refuse none
    lines = [f"GET /{target} HTTP/{version}", *(f"{n}:{v}" for n, v in fields), "", ""]
    data = "\r\n".join(lines).encode()
    assert quick.split_head is not None
    names = {name.lower() for name, _ in fields}
    if {"content-length", "transfer-encoding"} & names or len(names & {"host"}) != 1:
        return
    assert quick.split_head(data, 16384, Head) is not None
    parser = httptools.HttpRequestParser(head._NO_CALLBACKS)
    with contextlib.suppress(httptools.HttpParserUpgrade):  # an upgrade's blank line: fine
        parser.feed_data(data)


# -- accept keys --------------------------------------------------------------------------------

_keys = st.one_of(
    st.binary(min_size=16, max_size=16).map(lambda b: base64.b64encode(b).decode()),
    st.binary(min_size=0, max_size=20).map(lambda b: base64.b64encode(b).decode()),
    st.text(min_size=20, max_size=26),
    st.text("ABCxyz019+/=-_ \t\u00e9", min_size=22, max_size=25),
)


@needs_c
@_PROPERTY
@given(key=_keys)
@example(key="dGhlIHNhbXBsZSBub25jZQ==")
def test_the_compiled_accept_is_its_twin_and_the_general_path(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert quick.accept_for is not None
    fast = quick.accept_for(key)
    assert fast == quick.quick_accept(key)
    headers = {
        "upgrade": "websocket",
        "host": "x",
        "connection": "Upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": key,
    }
    with monkeypatch.context() as patch:
        patch.setattr(handshake, "accept_for", None)
        try:
            general: bytes | None = accept_key(headers)
        except BadHandshake:
            general = None
    if fast is not None:
        assert fast == general
    assert accept_key(headers) == general if general is not None else True


def test_the_known_accept_value() -> None:
    # RFC 6455 §1.3's example
    assert quick.quick_accept("dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    if quick.accept_for is not None:
        assert quick.accept_for("dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@needs_c
def test_the_compiled_functions_keep_no_memory() -> None:
    split, accept = quick.split_head, quick.accept_for
    assert split is not None and accept is not None
    dup = b"GET /ws?a=1 HTTP/1.1\r\nHost: x\r\nX: 1\r\nx: 2\r\n\r\n"
    long_name = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"N" * 100 + b": v\r\n\r\n"
    framed = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n"
    heads = (_PLAIN + b"\x81\x80", dup, long_name, framed, b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n")

    def round_() -> None:
        for data in heads:
            split(data, 16384, Head)
        accept("dGhlIHNhbXBsZSBub25jZQ==")
        accept("not a key")

    for _ in range(200):
        round_()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5000):
            round_()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 4096, f"{grown} bytes kept over 5,000 rounds"


def test_without_the_module_the_general_paths_serve() -> None:
    code = (
        "from gateway.websocket import quick, head\n"
        "assert quick.split_head is None and quick.accept_for is None\n"
        f"h = head.HeadReader().feed({_PLAIN!r})\n"
        "assert h is not None and h.path == b'/ws' and h.headers['host'] == '127.0.0.1:8080'\n"
    )
    env = {"GATEWAY_NO_SPEEDUPS": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
