"""The compiled module (gateway/csrc): built, warning-free, and the twin of the Python code.

Each compiled function is checked against its pure-Python twin (the reference, and the
fallback under GATEWAY_NO_SPEEDUPS=1) on generated inputs, for leaks in a loop, and the
key tests run again with the fallback forced (`test_the_key_tests_pass_without_speedups`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.connection.outgoing import _notification_frame_py
from gateway.grpc import translate
from gateway.grpc.response import encode_accepted_py
from gateway.grpc.translate import may_hold_huge_number_py
from gateway.log import AppendResult
from gateway.log.base import local_fingerprint_py
from gateway.models import EveryoneTarget, TopicTarget, UsersTarget, tuple_maker
from gateway.speedups import FORCED_OFF, speedups
from tests.support.batch_response import upb_batch_response
from tests.support.leaks import assert_no_leak

_ROOT = Path(__file__).resolve().parents[2]
_SOURCES = sorted((_ROOT / "gateway" / "csrc").glob("*.c"))

_WARNINGS = ["gcc", "-Wall", "-Wextra", "-Werror", "-std=c11", "-O2", "-fsyntax-only"]

needs_speedups = pytest.mark.skipif(
    speedups is None, reason="GATEWAY_NO_SPEEDUPS=1: the Python twins only"
)


def test_the_module_is_built_and_loaded() -> None:
    # pip install (scripts/_venv.sh) compiles it; a silent fallback would hide a broken build
    if not FORCED_OFF:
        assert speedups is not None, "gateway._speedups did not import: rebuild with pip install"
        # and PublishBatch reads its bytes with it (accept.compiled_reader: the item tuples
        # still have the fields batch.c fills in)
        assert translate.BATCH_FROM_BYTES
    else:
        assert speedups is None and not translate.BATCH_FROM_BYTES


@pytest.mark.parametrize("source", _SOURCES, ids=lambda p: p.name)
def test_the_c_sources_compile_without_warnings(source: Path) -> None:
    assert shutil.which("gcc"), "gcc builds gateway/csrc (apt-get install build-essential)"
    result = subprocess.run(
        [*_WARNINGS, f"-I{sysconfig.get_paths()['include']}", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# -- encode_accepted (gateway/grpc/response.py) ------------------------------------------


_result = st.tuples(
    st.one_of(st.text(max_size=300), st.text("0123456789abcdef-", min_size=1, max_size=30)),
    st.one_of(st.text(max_size=300), st.text("0123456789abcdef-", min_size=0, max_size=40)),
    st.one_of(st.integers(0, 300), st.integers(0, 2**32 - 1)),
)


@needs_speedups
@settings(max_examples=500, deadline=None)
@given(st.lists(_result, min_size=0, max_size=20))
def test_encode_accepted_is_upbs_bytes_wherever_either_encodes(
    rows: list[tuple[str, str, int]],
) -> None:
    assert speedups is not None
    ids = [row[1] for row in rows]
    results = [AppendResult(row[0], row[2]) for row in rows]
    compiled = speedups.encode_accepted(ids, results)
    python = encode_accepted_py(ids, results)
    if python is not None:
        assert compiled == python
    try:
        expected = upb_batch_response(ids, results)
    except (ValueError, UnicodeEncodeError):  # a lone surrogate: upb refuses, so must C
        assert compiled is None
        return
    assert compiled == expected


@needs_speedups
def test_encode_accepted_declines_what_upb_would_not_encode_the_same() -> None:
    assert speedups is not None
    one = [AppendResult("c-1", 1)]
    assert speedups.encode_accepted(["\ud800"], one) is None  # not UTF-8
    assert speedups.encode_accepted(["k"], [AppendResult("c", -1)]) is None
    assert speedups.encode_accepted(["k"], [AppendResult("c", 2**32)]) is None
    with pytest.raises(ValueError):
        speedups.encode_accepted(["k", "l"], one)
    with pytest.raises(ValueError):
        encode_accepted_py(["k", "l"], one)


@needs_speedups
def test_encode_accepted_leaks_nothing() -> None:
    assert speedups is not None
    encode = speedups.encode_accepted
    ids = [f"0193a1b2-c3d4-7e5f-8a6b-{n:012x}" for n in range(50)]
    results = [AppendResult(f"18c2f0a1b2c3-{n}", n % 2) for n in range(50)]
    declined = ["\ud800"]
    assert_no_leak(
        lambda: (encode(ids, results), encode(declined, results[:1])),
        [ids, results, ids[0], results[0], declined[0]],
    )


# -- the fallback ------------------------------------------------------------------------

#: The tests that exercise every compiled path end to end, run again with the Python twins.
KEY_TESTS = [
    "tests/unit/test_speedups.py",
    "tests/unit/test_batch_response.py",
    "tests/unit/test_accept_rules.py",
    "tests/unit/test_models.py",
    "tests/unit/test_log_memory.py",
    "tests/unit/test_connection.py",
    "tests/e2e/test_publish.py",
    "tests/e2e/test_door.py",
    "tests/e2e/test_hostile.py",
    "tests/unit/test_head.py",
    "tests/unit/test_handshake.py",
    "tests/e2e/test_conformance_http.py",
    "tests/e2e/test_types.py",
    "tests/unit/test_direct_send.py",
    "tests/unit/test_speedups_receipts.py",
    "tests/unit/test_speedups_receipts_store.py",
    "tests/unit/test_speedups_receipts_note.py",
    "tests/unit/test_speedups_receipts_take.py",
    "tests/unit/test_speedups_receipts_forget.py",
    "tests/unit/test_receipts_tracker.py",
    "tests/unit/test_connection_acks.py",
    "tests/unit/test_ack_rules.py",
    "tests/e2e/test_receipts_acks.py",
    "tests/unit/test_speedups_wsframe.py",
    "tests/unit/test_frames.py",
    "tests/unit/test_write_through.py",
    "tests/unit/test_speedups_memlog.py",
    "tests/unit/test_speedups_drafts.py",
    "tests/unit/test_speedups_canon.py",
    "tests/unit/test_speedups_outgoing.py",
]


@needs_speedups
def test_the_key_tests_pass_without_speedups() -> None:
    env = {**os.environ, "GATEWAY_NO_SPEEDUPS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:randomly", *KEY_TESTS],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=500,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# -- may_hold_huge_number (gateway/grpc/translate.py's screen) -----------------------------

_screen_text = st.one_of(
    st.text("eE+-.0123456789x٣\U0001d7d7 ", max_size=12),
    st.text(max_size=12),
    st.builds(
        lambda digit, n, before, after: before + digit * n + after,
        st.sampled_from(["1", "٣", "\U0001d7d7"]),
        st.integers(300, 312),
        st.text("x1e", max_size=3),
        st.text("x1e", max_size=3),
    ),
)


@needs_speedups
@settings(max_examples=1500, deadline=None)
@given(_screen_text)
def test_the_screen_matches_the_three_searches(text: str) -> None:
    assert speedups is not None
    assert speedups.may_hold_huge_number(text) is may_hold_huge_number_py(text)


@needs_speedups
def test_the_screen_leaks_nothing() -> None:
    assert speedups is not None
    screen = speedups.may_hold_huge_number
    texts = ['{"a":1e308}', '{"a":1.5,"b":"x"}', "٣" * 310]
    assert_no_leak(lambda: [screen(t) for t in texts], texts)


# -- tuple_maker (gateway/models.py) --------------------------------------------------------


class _Pair(NamedTuple):
    a: int
    b: str = "b"
    c: tuple[int, ...] = ()


@needs_speedups
@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers() | st.text(max_size=3), max_size=5), st.sampled_from([None, 1, 3]))
def test_the_compiled_tuple_maker_makes_what_partial_made(
    values: list[Any], given: int | None
) -> None:
    python = partial(tuple.__new__, _Pair)
    tail = tuple(_Pair._field_defaults[f] for f in _Pair._fields[given or 3 :])

    def twin(v: Any) -> Any:
        return python(v + tail) if tail else python(v)

    made = tuple_maker(_Pair, given)

    def either(make: Any, v: Any) -> Any:
        try:
            out = make(v)
        except TypeError as exc:
            return ("error", str(exc))
        return (type(out), tuple(out))

    assert either(made, tuple(values)) == either(twin, tuple(values))
    assert either(made, values) == either(twin, values)  # a list: the twin's way


@needs_speedups
def test_the_tuple_maker_leaks_nothing() -> None:
    make = tuple_maker(_Pair, 1)
    values = (1,)
    kept = _Pair(1)
    assert make(values) == kept and type(make(values)) is _Pair
    assert_no_leak(lambda: make(values), [values, values[0], kept.b])


# -- local_fingerprint (gateway/log/base.py) ----------------------------------------------

_MARK = b',"created_at":'
_targets = st.one_of(
    st.lists(st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True), min_size=1, max_size=3).map(
        lambda ids: UsersTarget(user_ids=tuple(ids))
    ),
    st.from_regex(r"[a-z]{1,6}", fullmatch=True).map(lambda t: TopicTarget(topic=t)),
    st.just(EveryoneTarget()),
)
_bodies = st.one_of(
    st.binary(max_size=40),
    st.lists(st.sampled_from([b"{", b'"a":1', _MARK, b'"x"}', b",", b"\x00"]), max_size=6).map(
        b"".join
    ),
)


@needs_speedups
@settings(max_examples=500, deadline=None)
@given(_targets, _bodies)
def test_the_compiled_fingerprint_is_the_twins_value(target: Any, body: bytes) -> None:
    assert speedups is not None
    assert speedups.local_fingerprint(target, body) == local_fingerprint_py(target, body)


@needs_speedups
def test_the_fingerprint_leaks_nothing() -> None:
    assert speedups is not None
    fingerprint = speedups.local_fingerprint
    users, topic = UsersTarget(user_ids=("u1",)), TopicTarget(topic="t")
    body = b'{"id":"k","data":{}' + _MARK + b'"2026-01-01T00:00:00.000Z"}'
    assert_no_leak(
        lambda: (fingerprint(users, body), fingerprint(topic, body), fingerprint(topic, b"x")),
        [users, topic, body, users.user_ids],
    )


# -- notification_frame (gateway/connection/outgoing.py) ----------------------------------


@needs_speedups
@settings(max_examples=500, deadline=None)
@given(
    st.one_of(st.from_regex(r"[0-9a-z.]{1,12}-[0-9]{1,9}", fullmatch=True), st.text(max_size=6)),
    st.one_of(st.binary(max_size=200), st.integers(60, 70_000).map(lambda n: b"x" * n)),
)
def test_the_compiled_frame_is_the_twins(cursor: str, body: bytes) -> None:
    assert speedups is not None
    assert speedups.notification_frame(cursor, body) == _notification_frame_py(cursor, body)


@needs_speedups
def test_the_frame_leaks_nothing() -> None:
    assert speedups is not None
    frame = speedups.notification_frame
    cursor, odd, body = "18c2f0a1-42", 'a"b', b'{"id":"k"}'
    assert_no_leak(lambda: (frame(cursor, body), frame(odd, body)), [cursor, odd, body])
