"""A flush's note of the last notification written (`Outbox.flush`): the compiled
`last_notification` (gateway/csrc/receipts.c) against its twin,
gateway/connection/acks.py's `last_notification_py`, and the flush that uses it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.connection import acks
from gateway.connection.acks import last_notification_py
from gateway.connection.outgoing import Outgoing
from gateway.speedups import FORCED_OFF
from tests.support.leaks import assert_no_leak

_PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))

needs_c = pytest.mark.skipif(
    acks.last_notification is last_notification_py,
    reason="gateway._receipts is not built (or turned off)",
)


def _notification(cursor: str) -> bytes:
    return Outgoing.notification(cursor, b'{"id":"n1","type":"a.b"}').ws


_frames = st.one_of(
    st.sampled_from(["e-1", "e.5-2", "x" * 40 + "-1"]).map(_notification),
    st.sampled_from(["pong", "ready"]).map(lambda name: Outgoing.of(name).ws),
    st.binary(max_size=40),
    st.binary(max_size=8).map(lambda head: head + b'{"event":"notification","cursor":"e-1"}'),
)


def test_the_note_is_compiled_unless_turned_off() -> None:
    assert (acks.last_notification is last_notification_py) == FORCED_OFF


@needs_c
@_PROPERTY
@given(st.lists(_frames, min_size=1, max_size=4))
def test_the_c_note_answers_as_its_twin(frames: list[bytes]) -> None:
    made = acks.last_notification(frames)
    assert made == last_notification_py(frames)
    assert made is None or made is frames[-1]  # the frame itself, as flushed


@needs_c
def test_the_c_note_refuses_what_its_twin_refuses() -> None:
    for twin_error, frames in [(IndexError, []), (TypeError, ["pong"])]:
        with pytest.raises(twin_error):
            last_notification_py(frames)  # type: ignore[arg-type]
        with pytest.raises(twin_error):
            acks.last_notification(frames)  # type: ignore[arg-type]


@needs_c
def test_the_c_note_leaks_nothing() -> None:
    for frames in [[_notification("e-1")], [_notification("e-1"), Outgoing.of("pong").ws]]:

        def note(f: list[bytes] = frames) -> None:
            acks.last_notification(f)

        assert_no_leak(note, frames)
