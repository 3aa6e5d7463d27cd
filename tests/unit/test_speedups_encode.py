"""The compiled encoder (gateway/csrc/encode.c) writes the bytes its Python twin writes.

`models.encode_notification` is the C function with the compiled module: for a
`NotificationItem` it writes the outer object and its strings itself and hands `data` to
orjson; anything else it hands to `encode_notification_py`. Hypothesis makes items with
every kind of text (control characters, quotes, backslashes, non-ASCII, lone surrogates),
data orjson refuses (integers past 64 bits), priorities, and created_at in and out of UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.models import Notification, NotificationItem, encode_notification_py
from gateway.speedups import speedups
from tests.support.leaks import assert_no_leak
from tests.support.publish_requests import json_value

pytestmark = pytest.mark.skipif(speedups is None, reason="GATEWAY_NO_SPEEDUPS=1")

_text = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(max_codepoint=0x7F), max_size=12),
    st.sampled_from(["", '"', "\\", "\x00\x1f\x7f", "\b\t\n\f\r", "é\u2028😀", "\ud800"]),
)
_when = st.one_of(
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(timezones=st.sampled_from([timezone(timedelta(hours=5, minutes=30))])),
    st.datetimes(),  # naive
)
_number = st.one_of(
    # repr and orjson part at exponents: 1e-07 against 1e-7
    st.sampled_from([1e-5, 1.5e-7, 1e16, 1e22, 1e-300, 5e-324, 1e15, 0.0001, 0.1, -0.0]),
    st.floats(),
    st.floats(min_value=-1e17, max_value=1e17),
    st.floats(min_value=-1e-3, max_value=1e-3),
    st.sampled_from(
        [2**63 - 1, -(2**63), 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 1765000000.123456]
    ),
    st.integers(),
)
_data = st.one_of(
    st.dictionaries(st.text(max_size=4), json_value, max_size=4),
    st.dictionaries(st.text(max_size=3), st.one_of(_number, st.lists(_number, max_size=3))),
    st.recursive(
        st.dictionaries(st.just("k"), st.none()), lambda d: st.dictionaries(st.just("k"), d)
    ),
    st.builds(lambda n: {"deep": n}, st.integers(60, 70).map(lambda n: _nested(n))),
    st.just({1: "non-str key"}),
    st.just({"t": (1, 2)}),
    st.just({"big": 2**70}),
    st.just({"nan": float("nan")}),
)


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def items(draw: st.DrawFn) -> NotificationItem:
    return NotificationItem(
        draw(_text),
        draw(_text),
        draw(_text),
        draw(_text),
        draw(_data),
        draw(st.one_of(st.none(), st.sampled_from(["low", "normal", "high", "urgent", ""]), _text)),
        draw(_when),
        None,
        None,
    )


def _either(encode: Any, item: Any) -> tuple[str, Any]:
    try:
        return ("bytes", encode(item))
    except Exception as exc:  # the same refusal, if the twin refuses
        return ("error", type(exc))


@settings(max_examples=1500, deadline=None)
@given(items())
def test_the_compiled_encoder_writes_the_twins_bytes(item: NotificationItem) -> None:
    assert speedups is not None
    assert _either(speedups.encode_notification, item) == _either(encode_notification_py, item)


def test_a_pydantic_notification_goes_to_the_twin() -> None:
    assert speedups is not None
    n = Notification(id="k", type="a.b", title="t", created_at=datetime.now(UTC))
    assert speedups.encode_notification(n) == encode_notification_py(n)


def test_the_encoder_leaks_nothing() -> None:
    assert speedups is not None
    encode = speedups.encode_notification
    at = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    common = NotificationItem("k", "a.b", 't"\n', "é", {"n": 1}, None, at, None, None)
    big = common._replace(data={"n": 2**70})
    surrogate = common._replace(title="\ud800")
    assert_no_leak(
        lambda: (encode(common), encode(big), _either(encode, surrogate)),
        [common, big, surrogate, at, common.data],
        rounds=1000,
    )
