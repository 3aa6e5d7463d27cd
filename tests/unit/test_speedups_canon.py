"""canonical_json (gateway/csrc/canon.c): a data_json carried as it is only when that is
exactly what parsing it and encoding it again writes.

The twin is the round trip itself: `orjson.dumps(pydantic_core.from_json(text))` for a
text the edge accepts (a JSON object, no number past a double). Whenever the C answers,
the text must be accepted by the Python path and its answer must be that encoding, byte
for byte; it may decline anything (then the text is parsed, as before). Hypothesis makes
JSON objects written every way (spacing, escapes, number forms, repeated keys), numbers
near the edges of the rules (16 significant digits, the ends of the fixed range), and
hostile bytes.
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pydantic_core
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.grpc.translate import _json_object
from gateway.models import Invalid
from gateway.speedups import speedups
from tests.support.leaks import assert_no_leak

pytestmark = pytest.mark.skipif(speedups is None, reason="GATEWAY_NO_SPEEDUPS=1")

_PROPERTY = settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))


def _check(text: bytes) -> bytes | None:
    assert speedups is not None
    ours = speedups.canonical_json(text)
    if ours is not None:
        value = _json_object(text.decode())  # the edge's own reader accepts it
        assert ours == orjson.dumps(value), text
        assert ours == orjson.dumps(pydantic_core.from_json(ours))  # its own encoding
    return ours


_numbers = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e-5, max_value=1e16),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str),
    st.from_regex(r"-?[1-9][0-9]{0,9}\.[0-9]{1,10}", fullmatch=True),
)
_scalars = st.one_of(
    st.none(), st.booleans(), _numbers, st.text(max_size=12), st.text('\x00\x1f"\\é/ a', max_size=6)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


def _number_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _write(value: Any, rng: random.Random) -> str:
    """`value` as JSON, spaced and escaped one of several ways."""
    space = rng.choice(["", "", " ", "\n  ", "\t"])
    if isinstance(value, dict):
        parts = [f"{_write(k, rng)}{space}:{space}{_write(v, rng)}" for k, v in value.items()]
        return "{" + space + ("," + space).join(parts) + space + "}"
    if isinstance(value, list):
        return "[" + space + ("," + space).join(_write(v, rng) for v in value) + "]"
    if isinstance(value, str) and not value[:1].isdigit() and value[:1] != "-":
        return json.dumps(value, ensure_ascii=rng.random() < 0.3)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return _number_text(value)


@_PROPERTY
@given(st.dictionaries(st.text(max_size=6), _values, max_size=6), st.integers(0, 2**32))
@example({"ts": "1765000000.000123", "lane": 0, "seq": 7, "pad": "x" * 44}, 0)
def test_what_it_answers_is_the_round_trip(data: dict[str, Any], seed: int) -> None:
    text = _write(data, random.Random(seed)).encode()
    _check(text)


@_PROPERTY
@given(st.from_regex(r"-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?", fullmatch=True))
@example("1765000000.000123")
@example("9007199254740.993")
@example("0.30000000000000004")
@example("0.1000000000000000")
@example("-0.0")
@example("-0")
@example("0.0001")
@example("0.00009999999999999999")
@example("999999999999999.9")
@example("1000000000000000.0")
def test_numbers_near_the_edges(number: str) -> None:
    for text in (f'{{"n":{number}}}', f'{{"n":[{number}, {number}]}}'):
        _check(text.encode())


@_PROPERTY
@given(st.binary(max_size=40), st.integers(0, 40))
def test_hostile_bytes(noise: bytes, at: int) -> None:
    base = b'{"a":[1,2.5,"x\\n",{"b":null}],"c":true}'
    _check(noise)
    _check(base[:at] + noise + base[at:])
    _check(base[:at] + base[at + 1 :])


def test_the_common_forms() -> None:
    assert _check(b'{"a": 1, "b": [true, null]}') == b'{"a":1,"b":[true,null]}'
    assert _check(b'{"ts":1765000000.000123}') == b'{"ts":1765000000.000123}'
    assert _check(b"{}") == b"{}"
    for declined in (
        b'{"a":1,"a":2}',  # a repeated key: one entry
        b'{"a":1.50}',  # written 1.5
        b'{"a":1e5}',  # written 100000.0
        b'{"a":"\\u00e9"}',  # written as the character
        b'{"a":"\\/"}',  # written /
        b'{"a":"\xc3\xa9"}',  # not ASCII: parsed
        b'{"a":-0}',  # written 0
        b'{"a":12345678901234567890}',  # past 18 digits
        b"[1]",  # not an object: the Python path refuses it
        b'{"a":NaN}',
        b'{"a":1} x',
    ):
        assert _check(declined) is None, declined
    with pytest.raises(Invalid):
        _json_object("[1]")


def test_it_leaks_nothing() -> None:
    assert speedups is not None
    canonical = speedups.canonical_json
    texts = [b'{"a": [1, 2.5, "x"], "b": {"c": null}}', b'{"a":1,"a":2}', b"{" * 70, b"[]"]

    def call() -> None:
        for text in texts:
            canonical(text)

    assert_no_leak(call, texts)


def test_a_carried_text_encodes_as_its_dict_does_in_c_and_in_the_twin() -> None:
    from datetime import UTC, datetime

    from gateway.models import NotificationItem, data_of, encode_notification_py

    at = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    text = b'{"ts":1765000000.000123,"a":[1,"x\\n",null]}'
    carried = NotificationItem("k", "a.b", "t", "", None, None, at, None, None, text)
    parsed = carried._replace(data=data_of(carried), data_json=None)
    assert data_of(carried) == pydantic_core.from_json(text)
    expected = encode_notification_py(parsed)
    assert encode_notification_py(carried) == expected
    assert speedups is not None and speedups.encode_notification(carried) == expected
    # a field orjson refuses (a lone surrogate) is refused the same way with the text
    odd = carried._replace(title="\ud800")
    with pytest.raises(ValueError):
        encode_notification_py(odd._replace(data=data_of(odd), data_json=None))
    with pytest.raises(ValueError):
        encode_notification_py(odd)
