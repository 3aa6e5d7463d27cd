"""The notification event's Outgoing made in C (gateway/csrc/outgoing.c) against its twin.

With gateway._publish, `Outgoing.notification` is the compiled maker and
`outgoing.notification_py` (the classmethod as written) its twin: the same class, the
same five slots, the same frame, the same error for what the frame refuses.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.connection import outgoing
from gateway.connection.outgoing import Outgoing, notification_py
from gateway.speedups import FORCED_OFF
from tests.support.leaks import assert_no_leak

_PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))

needs_c = pytest.mark.skipif(outgoing._maker is None, reason="gateway._publish is not built")


def _slots(item: Outgoing) -> list[Any]:
    return [type(item), *(getattr(item, name) for name in Outgoing.__slots__)]


def test_the_maker_is_compiled_unless_turned_off() -> None:
    assert (outgoing._maker is None) == FORCED_OFF
    assert (Outgoing.notification == notification_py) == FORCED_OFF  # bound anew each time


@needs_c
@_PROPERTY
@given(
    st.one_of(st.from_regex(r"[0-9a-z.]{1,12}-[0-9]{1,6}", fullmatch=True), st.text(max_size=8)),
    st.binary(max_size=300),
)
def test_the_compiled_maker_makes_what_the_twin_makes(cursor: str, body: bytes) -> None:
    assert _slots(Outgoing.notification(cursor, body)) == _slots(notification_py(cursor, body))


@needs_c
def test_what_the_frame_refuses_is_refused_alike() -> None:
    for cursor, body in ((1, b"{}"), ("e-1", "not bytes"), ("\ud800", b"{}")):
        with pytest.raises(Exception) as twin:
            notification_py(cursor, body)  # type: ignore[arg-type]
        with pytest.raises(type(twin.value)):
            Outgoing.notification(cursor, body)  # type: ignore[arg-type]


@needs_c
def test_the_maker_leaks_nothing() -> None:
    cursor, body = "abc-12", b'{"id":"x"}'
    assert_no_leak(lambda: Outgoing.notification(cursor, body), [cursor, body])
