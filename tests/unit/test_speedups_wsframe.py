"""The compiled reader of one whole small WebSocket text frame (gateway/csrc/wsframe.c)
against its twin, `frames.small_text_py`: the same text or None for generated frames,
valid and hostile (any first byte, lengths, masks, fragments, bytes that are not UTF-8),
and no leaks; and `open_text(machine, data)` against `ServerMachine.open_text` in every
state of the machine (open or not, a message in progress or not), also for a class
hiding a slot. `FrameReader.small_text` against `feed` is tests/unit/test_frames.py's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.speedups import FORCED_OFF
from gateway.websocket import frames, machine
from gateway.websocket.frames import (
    BINARY,
    CONTINUATION,
    PING,
    TEXT,
    FrameReader,
    small_text_py,
)
from gateway.websocket.machine import CLOSED, CLOSING, OPEN, ServerMachine
from tests.support.client_frames import frame_of
from tests.support.leaks import assert_no_leak

_PROPERTY = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))

needs_c = pytest.mark.skipif(
    frames.small_text is small_text_py, reason="gateway._wsframe is not built (or turned off)"
)


def test_the_module_is_built_unless_turned_off() -> None:
    # the dev install compiles it: a broken build must not pass as "the Python path"
    assert (frames.small_text is small_text_py) == FORCED_OFF
    assert (machine.open_text is ServerMachine.open_text) == FORCED_OFF


@st.composite
def client_data(draw: st.DrawFn) -> bytes:
    payload = draw(
        st.one_of(
            st.text(max_size=130).map(str.encode),
            st.binary(max_size=130),
            st.sampled_from([b'{"op":"ack","cursor":"e-1"}', b"\xff", b"\xc3", b"\xed\xa0\x80"]),
        )
    )
    shape = draw(st.integers(0, 6))
    if shape <= 2:
        return frame_of(TEXT, payload)
    if shape == 3:
        opcode = draw(st.sampled_from([BINARY, PING, CONTINUATION, 0x3]))
        return frame_of(opcode, payload, fin=draw(st.booleans()))
    if shape == 4:
        return frame_of(TEXT, payload, rsv=draw(st.integers(0, 7)), masked=draw(st.booleans()))
    if shape == 5:  # cut short, or with more after it
        frame = frame_of(TEXT, payload)
        return frame[: draw(st.integers(0, len(frame)))] + draw(st.binary(max_size=8))
    return draw(st.binary(max_size=140))


@needs_c
@_PROPERTY
@given(client_data(), st.integers(0, 200) | st.sampled_from([0, 1, 27, 125, 1 << 20]))
@example(frame_of(TEXT, b"x" * 125), 125)
@example(frame_of(TEXT, b"x" * 125), 124)
@example(frame_of(TEXT, b"\xff\xfe"), 100)
def test_the_c_reader_answers_as_its_twin(data: bytes, limit: int) -> None:
    assert frames.small_text(data, limit) == small_text_py(data, limit)


@needs_c
def test_the_reader_leaks_nothing() -> None:
    for data in [
        frame_of(TEXT, b'{"op":"ack","cursor":"e-1"}'),
        frame_of(TEXT, "é".encode() * 20),
        frame_of(TEXT, b"\xff\xfe"),  # not UTF-8: None
        frame_of(BINARY, b"x"),
    ]:
        assert_no_leak(lambda d=data: frames.small_text(d, 1 << 16), [data])


class _Closing(ServerMachine):
    """A machine whose `state` is a property over the slot: read as getattr reads it."""

    __slots__ = ()

    @property  # type: ignore[override]  # (a read-only view over the slot, on purpose)
    def state(self) -> int:
        return CLOSING


def _machine(cls: type[ServerMachine], state: int, buf: bytes, opcode: int | None) -> Any:
    made = cls.__new__(cls)
    FrameReader.__init__(made, 1 << 16)
    ServerMachine.state.__set__(made, state)  # type: ignore[attr-defined]
    made._buf, made._opcode = bytearray(buf), opcode
    return made


@needs_c
@_PROPERTY
@given(
    client_data(),
    st.sampled_from([OPEN, CLOSING, CLOSED]),
    st.sampled_from([b"", b"\x81"]),
    st.sampled_from([None, TEXT]),
    st.integers(0, 200) | st.just(1 << 16),
    st.booleans(),
)
def test_open_text_answers_as_the_machines_method(
    data: bytes, state: int, buf: bytes, opcode: int | None, limit: int, hiding: bool
) -> None:
    made = _machine(_Closing if hiding else ServerMachine, state, buf, opcode)
    made._limit = limit
    assert machine.open_text(made, data) == made.open_text(data)


@needs_c
def test_open_text_leaks_nothing() -> None:
    data = frame_of(TEXT, b'{"op":"ack","cursor":"e-1"}')
    made = [_machine(ServerMachine, OPEN, b"", None), _machine(_Closing, OPEN, b"", None)]
    for one in made:
        assert_no_leak(lambda m=one: machine.open_text(m, data), [one, data])
