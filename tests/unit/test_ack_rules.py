"""Receipts' fast paths drop no rule: what they accept, the models accept the same.

`parse_client_op` reads the ack frame the SDKs send with one regex instead of a JSON
decode and the `AckOp` model (issue 17); the handler then needs the cursor's place, which
`mark_of` computes without a `Cursor` object. Hypothesis throws frames at both, valid and
hostile: whenever the fast path answers, the models' path (`client_op` on the decoded
JSON, then `Cursor.parse` of its cursor) must accept the same frame with the same cursor;
whenever it does not, `parse_client_op` must answer exactly what the models answer.
Likewise the WebSocket frame reader's path for one whole small text frame against its
general path.
"""

from __future__ import annotations

import json

import pydantic_core
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.connection.ops import AckOp, MarkedAck, client_op, parse_client_op
from gateway.log.cursor import Cursor
from gateway.models import Invalid
from gateway.receipts.marks import just_before, log_mark, mark, mark_of, sortable
from gateway.websocket.frames import FrameReader, ProtocolError

RULES = settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_cursor_like = st.one_of(
    st.from_regex(r"[0-9a-z.]{1,42}-[0-9]{1,20}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{6,14}(\.[0-9]{1,21})?-[0-9]{1,20}", fullmatch=True),
    st.sampled_from(
        [
            "a-1",
            "a.1-2",
            ".1-2",
            "a.-2",
            "a..5-1",
            "a.b1-5",
            "x" * 40 + "-1",
            "x" * 41 + "-1",
            "a-" + "9" * 19,
            "a-" + "9" * 20,
            "a.12345678901234567890-1",
            "a-²",
            "A-1",
            "a-1 ",
            "",
            "-1",
            "a-",
            "a--1",
            "é-1",
            "a\\u002d1",
        ]
    ),
    st.text(max_size=12),
)


@st.composite
def frames(draw: st.DrawFn) -> str:
    cursor = draw(_cursor_like)
    shape = draw(st.integers(0, 7))
    if shape == 0:
        return '{"op":"ack","cursor":"' + cursor + '"}'  # the JS client's (raw text)
    if shape == 1:
        return json.dumps({"op": "ack", "cursor": cursor})  # Python's default spacing
    if shape == 2:
        return json.dumps({"op": "ack", "cursor": cursor}, separators=(",", ":"))
    if shape == 3:
        return json.dumps({"cursor": cursor, "op": "ack"})  # another key order
    if shape == 4:
        return '{"op":"ack","cursor":"' + cursor + '","x":1}'  # an extra field
    if shape == 5:
        return '{"op":"ack","cursor":"' + cursor + '","cursor":"a-1"}'  # a repeated key
    if shape == 6:
        return draw(st.sampled_from(['{"op":"ack"}', '{"op":"ack","cursor":5}', "[]", "x"]))
    return '{"op": "ack","cursor" :"' + cursor + '"}'  # other spacing


def _models(text: str) -> object:
    """What the models answer: the op, or the `Invalid` they raise."""
    try:
        value = pydantic_core.from_json(text)
    except ValueError:
        return "not json"
    try:
        return client_op(value)
    except Invalid as exc:
        return (exc.field, exc.rule)


def _answer(text: str) -> object:
    try:
        return parse_client_op(text)
    except Invalid as exc:
        return (exc.field, exc.rule)


@RULES
@given(frames())
def test_the_fast_ack_path_accepts_only_what_the_model_accepts(text: str) -> None:
    models = _models(text)
    answer = _answer(text)
    if isinstance(answer, MarkedAck):
        assert isinstance(models, AckOp), text
        cursor = Cursor.parse(models.cursor)
        assert cursor is not None, text
        assert answer.at == mark(cursor)
        assert answer.cursor == models.cursor
    elif models != "not json":
        assert answer == models, text


@RULES
@given(_cursor_like)
def test_a_mark_is_the_parsed_cursors_place(text: str) -> None:
    cursor = Cursor.parse(text)
    found = mark_of(text)
    assert found == (None if cursor is None else mark(cursor))
    if cursor is not None:
        assert log_mark(text) == found  # a log's cursor, split without the checks
        assert mark_of(str(cursor)) == found


def test_marks_order_as_cursors_do_and_print_sortably() -> None:
    a, b = Cursor("e", 5, 9), Cursor("e", 6, 0)
    assert b.after(a) and mark(b) > mark(a)
    assert sortable(mark(b)) > sortable(mark(a)) > sortable(just_before(mark(a)))
    # the last place before (6, 0) is after every (5, n) a cursor can hold
    assert mark(a) < just_before(mark(b)) < mark(b)
    assert just_before(mark(Cursor("e", None, 7))) == ("e", 0, 6)


@st.composite
def client_frames(draw: st.DrawFn) -> bytes:
    """One client frame, mostly a whole small text frame, with any first byte."""
    payload = draw(st.one_of(st.text(max_size=130).map(str.encode), st.binary(max_size=130)))
    first = draw(st.sampled_from([0x81, 0x81, 0x81, 0x01, 0x82, 0x91, 0x88, 0x89, 0x80]))
    mask = draw(st.sampled_from([b"\x00\x00\x00\x00", b"\x12\x34\x56\x78"]))
    size = len(payload)
    head = bytes((first, 0x80 | size)) if size < 126 else bytes((first, 0xFE)) + size.to_bytes(2)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if draw(st.booleans()) and size < 126:
        head = bytes((first, size))  # unmasked: refused
    return head + mask + masked


def _read(reader: FrameReader, chunks: list[bytes]) -> object:
    try:
        out = []
        for chunk in chunks:
            out += reader.feed(chunk)
        return out
    except ProtocolError as exc:
        return (exc.code, exc.reason, exc.messages)


@RULES
@given(client_frames(), st.sampled_from([125, 64, 16]))
def test_the_frame_readers_fast_path_reads_as_the_general_one(frame: bytes, limit: int) -> None:
    fast = _read(FrameReader(limit), [frame])
    general = _read(FrameReader(limit), [frame[:1], frame[1:]])  # split: the general path
    assert fast == general


@pytest.mark.parametrize("text", ['{"op":"ack","cursor":"e-1"}', '{"op": "ack", "cursor": "e-1"}'])
def test_the_sdks_acks_take_the_fast_path(text: str) -> None:
    assert parse_client_op(text) == MarkedAck(("e", 0, 1), "e-1")
