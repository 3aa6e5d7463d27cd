"""The validation rules, directly and as properties (hypothesis)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.models import (
    Invalid,
    Notification,
    PublishInput,
    check_identifier,
    encode_notification,
    new_notification_id,
)

TYPE_RULE = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$")


def test_id_is_generated_time_ordered_uuid7() -> None:
    ids = [Notification(type="a.b").id for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert Notification(id="", type="a.b").id != ""


def test_created_at_defaults_to_now_and_must_be_aware() -> None:
    before = datetime.now(UTC)
    assert Notification(type="a.b").created_at >= before
    with pytest.raises(ValidationError):
        Notification(type="a.b", created_at=datetime(2026, 1, 1))


def test_encoding_is_compact_json_with_utc_z() -> None:
    n = Notification(
        id="k", type="a.b", data={"n": 1}, created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    assert encode_notification(n) == (
        b'{"id":"k","type":"a.b","title":"","body":"","data":{"n":1},'
        b'"priority":"normal","created_at":"2026-01-02T03:04:05.000Z"}'
    )


def test_recipients_are_bounded() -> None:
    def users(count: int) -> dict[str, object]:
        ids = [f"u{i}" for i in range(count)]
        return {"target": {"kind": "users", "user_ids": ids}, "notification": {"type": "x"}}

    assert len(PublishInput.model_validate(users(1000)).target.user_ids) == 1000  # type: ignore[union-attr]
    with pytest.raises(ValidationError):
        PublishInput.model_validate(users(1001))


def test_check_identifier_names_the_field() -> None:
    with pytest.raises(Invalid) as failure:
        check_identifier("topic", "a b")
    assert failure.value.field == "topic"
    assert check_identifier("topic", "café:42") == "café:42"


@given(st.text(max_size=80))
def test_type_rule_matches_the_documented_pattern(text: str) -> None:
    valid = bool(TYPE_RULE.fullmatch(text)) and len(text) <= 64
    try:
        Notification(type=text)
    except ValidationError:
        assert not valid
    else:
        assert valid


@given(st.text(max_size=140))
def test_identifiers_accept_exactly_printable_commaless_text(text: str) -> None:
    valid = 1 <= len(text) <= 128 and not any(
        c.isspace() or c == "," or ord(c) < 0x20 or ord(c) == 0x7F for c in text
    )
    try:
        check_identifier("user_id", text)
    except Invalid:
        assert not valid
    else:
        assert valid


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=10)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_data_round_trips_through_the_encoding(data: dict[str, object]) -> None:
    encoded = json.loads(encode_notification(Notification(type="a.b", data=data)))
    assert encoded["data"] == data


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_ttl_must_not_be_negative(seconds: int) -> None:
    try:
        Notification(type="a.b", ttl=timedelta(seconds=seconds))
    except ValidationError:
        assert seconds < 0
    else:
        assert seconds >= 0


def test_many_ids_in_one_millisecond_stay_ordered() -> None:
    ids = [new_notification_id() for _ in range(10_000)]
    assert ids == sorted(ids)
