"""Receipts' compiled ack reader (gateway/csrc/receipts.c) against its twin and the
general path.

`read_ack` reads the SDKs' ack frame and checks it against what the connection was sent
in one call; `read_ack_py` (gateway/connection/ackread.py) is its twin. Hypothesis holds
the C to the twin on valid and hostile frames and connection states (the same answer, or
the same exception), and holds `AckWindow.ack_text` (with either) to the general path it
short-cuts (`parse_client_op`, then `ack_span`): whenever the fast path answers, the
general path gives the same ranges and leaves the connection in the same state; when it
does not, the connection is untouched (the general path then reads the frame).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.connection import ackread, acks
from gateway.connection.ackread import ReadAck, is_notification_py, read_ack_py
from gateway.connection.acks import AckWindow, Span, ack_range_py
from gateway.connection.ops import AckOp, MarkedAck, parse_client_op
from gateway.connection.outgoing import Outgoing
from gateway.models import Invalid
from gateway.receipts import marks
from gateway.receipts.marks import Mark, log_mark, mark_of
from gateway.speedups import FORCED_OFF
from tests.support.leaks import assert_no_leak

_PROPERTY = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))

needs_c = pytest.mark.skipif(
    ackread.read_ack is read_ack_py, reason="gateway._receipts is not built (or turned off)"
)


def test_the_module_is_built_unless_turned_off() -> None:
    # the dev install compiles it: a broken build must not pass as "the Python path"
    assert (ackread.read_ack is read_ack_py) == FORCED_OFF
    assert (ackread.is_notification is is_notification_py) == FORCED_OFF
    assert (marks.cursor_mark is log_mark) == FORCED_OFF
    assert (acks.ack_range is ack_range_py) == FORCED_OFF


_cursors = st.one_of(
    st.from_regex(r"[0-9a-z.]{1,42}-[0-9]{1,20}", fullmatch=True),
    st.from_regex(r"e(\.[0-9]{1,21})?-[0-9]{1,3}", fullmatch=True),
    st.sampled_from(
        [
            *("e-1", "e-2", "e-3", "e.5-1", "e.5-2", "a.1-2", ".1-2", "a.-2", "a..5-1"),
            *("a.b1-5", "x" * 40 + "-1", "x" * 41 + "-1", "a-" + "9" * 19, "a-" + "9" * 20),
            *("a.12345678901234567890-1", "a.1234567890123456789-1", "a-²", "A-1", "a-1 "),
            *("", "-1", "a-", "a--1", "é-1", 'a"-1', "a\\u002d1", "e-01", "e-1\n", "e.0-0"),
        ]
    ),
    st.text(max_size=12),
)


@st.composite
def ack_texts(draw: st.DrawFn) -> str:
    cursor = draw(_cursors)
    shape = draw(st.integers(0, 8))
    if shape in (0, 1):
        return '{"op":"ack","cursor":"' + cursor + '"}'  # the JS client's (raw text)
    if shape == 2:
        return json.dumps({"op": "ack", "cursor": cursor})  # Python's default spacing
    if shape == 3:
        return json.dumps({"cursor": cursor, "op": "ack"})  # another key order
    if shape == 4:
        return '{"op":"ack", "cursor" : "' + cursor + '"}'  # other spacing
    if shape == 5:
        return '{"op":"ack","cursor":"' + cursor + '"} '  # a trailing space
    if shape == 6:
        return '{"op":  "ack","cursor":"' + cursor + '"}'  # two spaces
    if shape == 7:
        return '{"op":"ack","cursor":"' + cursor + '","x":1}'  # an extra field
    return draw(st.text(max_size=60))


_marks = st.tuples(
    st.sampled_from(["e", "a", "x" * 40, ""]),
    st.integers(0, 10**19 - 1) | st.sampled_from([0, 5]),
    st.integers(0, 10**19 - 1) | st.integers(0, 4),
)
_hostile = st.sampled_from([(), ("e",), ("e", 0, 1, 2), ("e", "0", 1), [("e", 0, 1)], 5, "e-1"])


def _frame(cursor: str) -> bytes:
    return Outgoing.notification(cursor, b'{"x":1}').ws


_sent = st.one_of(
    st.none(),
    _cursors.map(_frame),
    st.sampled_from(["e-2", "e.5-2"]).map(_frame),
    _marks,
    st.binary(max_size=80),
    st.just(Outgoing.notification("e-1", b"x" * 200).ws),  # a 4-byte frame header
    st.just(Outgoing.notification("e-1", b"x" * 70_000).ws),  # an 8-byte one: not a head
    st.just(Outgoing.of("pong").ws),
    _hostile,
)
_after = st.one_of(st.none(), _marks, _hostile)


def _outcome(read: ReadAck, text: str, after: object, sent: object) -> object:
    try:
        return read(text, after, sent)  # type: ignore[arg-type]
    except Exception as exc:  # the same exception from both is the same answer
        return type(exc)


@needs_c
@_PROPERTY
@given(ack_texts(), _after, _sent)
@example('{"op":"ack","cursor":"e-2"}', ("e", 0, 1), _frame("e-2"))
@example('{"op": "ack", "cursor": "e.5-2"}', ("e", 5, 1), _frame("e.5-2"))
@example('{"op":"ack","cursor":"e-2"}', ("e", "0", 1), ("e", 0, 3))
def test_the_c_reader_answers_as_its_twin(text: str, after: object, sent: object) -> None:
    assert _outcome(ackread.read_ack, text, after, sent) == _outcome(read_ack_py, text, after, sent)


class _Window(AckWindow):
    """A connection's ack state alone (the slots Outbox sets)."""

    __slots__ = ()

    def __init__(self, after: Mark | None, sent: bytes | Mark | None, unsent: tuple[Mark, ...]):
        self._acked, self._sent, self._unsent = after, sent, unsent

    def state(self) -> tuple[object, ...]:
        return (self._acked, self._sent, self._unsent)


def _general(window: _Window, text: str) -> list[Span] | str:
    """What the general path makes of `text` (parse_client_op, then ack_span)."""
    try:
        op = parse_client_op(text)
    except Invalid:
        return "invalid"
    if isinstance(op, MarkedAck):
        return window.ack_span(op.at, op.cursor)
    if isinstance(op, AckOp):
        at = mark_of(op.cursor)
        return [] if at is None else window.ack_span(at)
    return "another op"


@contextmanager
def _reading_with(read: ReadAck) -> Iterator[None]:
    kept = acks.read_ack
    acks.read_ack = read
    try:
        yield
    finally:
        acks.read_ack = kept


_valid_sent = st.one_of(
    st.none(), st.sampled_from(["e-1", "e-2", "e-3", "e-5", "e.5-2", "f-3"]).map(_frame), _marks
)
_holes = st.lists(st.integers(1, 6).map(lambda n: log_mark(f"e-{n}")), max_size=3)


@_PROPERTY
@given(
    ack_texts()
    | st.sampled_from(["e-1", "e-2", "e-3", "e-4", "e.5-2"]).map(
        lambda c: '{"op":"ack","cursor":"' + c + '"}'
    ),
    st.none() | st.integers(0, 3).map(lambda n: log_mark(f"e-{n}")) | _marks,
    _valid_sent,
    _holes,
    st.sampled_from(["c", "twin"]),
)
@example('{"op":"ack","cursor":"e-3"}', ("e", 0, 0), _frame("e-3"), [("e", 0, 2)], "c")
def test_the_fast_path_gives_what_the_general_path_gives(
    text: str,
    after: Mark | None,
    sent: bytes | Mark | None,
    holes: list[Mark],
    which: str,
) -> None:
    unsent = tuple(sorted(set(holes)))
    fast, general = _Window(after, sent, unsent), _Window(after, sent, unsent)
    with _reading_with(ackread.read_ack if which == "c" else read_ack_py):
        spans = fast.ack_text(text)
    if spans is None:
        assert fast.state() == (after, sent, unsent)  # untouched: the general path reads it
        return
    assert spans == _general(general, text), text
    assert fast.state() == general.state()


def _ranged(range_of: object, window: _Window, text: str) -> object:
    try:
        return range_of(window, text)  # type: ignore[operator]
    except Exception as exc:  # the same exception from both is the same answer
        return type(exc)


@_PROPERTY
@given(
    ack_texts()
    | st.sampled_from(["e-1", "e-2", "e-3", "e-4", "e.5-2"]).map(
        lambda c: '{"op":"ack","cursor":"' + c + '"}'
    ),
    st.none() | st.integers(0, 3).map(lambda n: log_mark(f"e-{n}")) | _marks | _hostile,
    _valid_sent | _hostile,
    _holes,
)
@example('{"op":"ack","cursor":"e-3"}', ("e", 0, 0), _frame("e-3"), [])
def test_the_one_range_reader_is_ack_text_without_holes(
    text: str, after: Mark | None, sent: bytes | Mark | None, holes: list[Mark]
) -> None:
    """`ack_range` (C) answers as its twin, leaving the same state; where it answers, it
    is `ack_text`'s one range (or nothing); where it does not, the window is untouched."""
    unsent = tuple(sorted(set(holes)))
    c, twin, whole = (_Window(after, sent, unsent) for _ in range(3))
    found = _ranged(acks.ack_range, c, text)
    assert found == _ranged(ack_range_py, twin, text)
    assert c.state() == twin.state()
    if found is None:
        assert c.state() == (after, sent, unsent)
        return
    if isinstance(found, type):
        return  # the same exception (a hostile state the connection never holds)
    assert not unsent
    spans = whole.ack_text(text)
    assert spans == ([found] if found else [])
    assert c.state() == whole.state()


@needs_c
def test_the_one_range_reader_leaks_nothing() -> None:
    frame = _frame("e-3")
    cases: list[tuple[str, Mark, bytes | Mark]] = [
        ('{"op":"ack","cursor":"e-3"}', ("e", 0, 1), frame),
        ('{"op":"ack","cursor":"e-2"}', ("e", 0, 1), ("e", 0, 3)),
        ('{"op":"ack","cursor":"e-4"}', ("e", 0, 1), frame),  # never sent
        ('{"cursor":"e-3","op":"ack"}', ("e", 0, 1), frame),  # not the form
    ]
    for text, after, sent in cases:

        def call(t: str = text, a: Mark = after, s: bytes | Mark = sent) -> object:
            return acks.ack_range(_Window(a, s, ()), t)

        assert_no_leak(call, [text, after, sent])


def test_an_ack_of_the_last_notification_written_is_read_in_one_call() -> None:
    window = _Window(("e", 0, 1), _frame("e-3"), ())
    assert window.ack_text('{"op":"ack","cursor":"e-3"}') == [(("e", 0, 1), ("e", 0, 3))]
    assert window.state() == (("e", 0, 3), ("e", 0, 3), ())
    assert window.ack_text('{"op":"ack","cursor":"e-3"}') == []  # not after the last ack
    assert window.ack_text('{"op":"ack","cursor":"e-4"}') == []  # never sent
    assert window.ack_text('{"cursor":"e-3","op":"ack"}') is None  # the general path's


@needs_c
def test_the_reader_leaks_nothing() -> None:
    read = ackread.read_ack
    frame, other = _frame("e-3"), _frame("e.7-9")
    for text, after, sent in [
        ('{"op":"ack","cursor":"e-3"}', ("e", 0, 1), frame),  # the last one written
        ('{"op":"ack","cursor":"e-2"}', ("e", 0, 1), frame),  # an earlier one
        ('{"op": "ack", "cursor": "e.7-9"}', ("e", 7, 1), other),
        ('{"op":"ack","cursor":"e-2"}', ("e", 0, 1), ("e", 0, 3)),  # a mark kept
        ('{"op":"ack","cursor":"e-2"}', None, frame),
        ('{"op":"ack","cursor":"e-2"}', ("e", "0", 1), ("e", 0, 3)),  # raises
        ('{"op":"ack","cursor":"E-2"}', ("e", 0, 1), frame),  # not the form
    ]:
        assert_no_leak(lambda t=text, a=after, s=sent: _outcome(read, t, a, s), [text, after, sent])


_frames = st.one_of(
    _cursors.map(_frame),
    st.binary(max_size=60),
    st.sampled_from(
        [
            Outgoing.notification("e-1", b"x" * 200).ws,  # a 4-byte frame header
            Outgoing.notification("e-1", b"x" * 70_000).ws,  # an 8-byte one: head at 10
            Outgoing.of("pong").ws,
            Outgoing.notification("e-1", b"{}").sse(),
            b"",
            b"\x81",
            b'\x81\x05{"event":"notification","cursor":"',  # the head at 2
            b'\x81\x05\x00{"event":"notification","cursor":"',  # at 3
            b'\x81\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00{"event":"notification","cursor":"',
            b'{"event":"notification","cursor":"e-1"}',  # at 0: no frame header
        ]
    ),
)


@needs_c
@_PROPERTY
@given(_frames, st.binary(max_size=12))
def test_the_c_notification_check_answers_as_its_twin(frame: bytes, tail: bytes) -> None:
    assert ackread.is_notification(frame) == is_notification_py(frame)
    assert ackread.is_notification(frame + tail) == is_notification_py(frame + tail)


@needs_c
def test_the_notification_check_leaks_nothing() -> None:
    for frame in [_frame("e-1"), Outgoing.of("pong").ws]:
        assert_no_leak(lambda f=frame: ackread.is_notification(f), [frame])


@needs_c
@_PROPERTY
@given(_cursors)
@example("e.17-3")
@example("a.1234567890123456789-1")
def test_the_c_cursor_mark_is_log_mark_or_none(cursor: str) -> None:
    """None only for what is not a cursor's shape (then `log_mark` reads it)."""
    found = marks.cursor_mark(cursor)
    if mark_of(cursor) is None:
        assert found is None
    else:
        assert found == log_mark(cursor) == mark_of(cursor)


@needs_c
def test_the_cursor_mark_leaks_nothing() -> None:
    for cursor in ["e-1", "e.17-3", "E-1", "é-1"]:
        assert_no_leak(lambda c=cursor: marks.cursor_mark(c), [cursor])
