"""The client-op and connect-query parsers: examples and properties (hypothesis)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.connection.ops import (
    PingOp,
    RefreshOp,
    SubscribeOp,
    UnsubscribeOp,
    parse_client_op,
    parse_connect,
    split_query,
)
from gateway.models import Invalid


def test_ops() -> None:
    assert parse_client_op('{"op":"subscribe","topic":"news"}') == SubscribeOp(
        op="subscribe", topic="news"
    )
    assert isinstance(parse_client_op('{"op":"unsubscribe","topic":"n"}'), UnsubscribeOp)
    assert isinstance(parse_client_op('{"op":"ping"}'), PingOp)


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_invalid_with_a_field(text: str) -> None:
    try:
        op = parse_client_op(text)
    except Invalid as exc:
        assert exc.field and exc.rule
    else:
        assert isinstance(op, SubscribeOp | UnsubscribeOp | PingOp | RefreshOp)


def test_refresh_op_takes_any_string_and_never_quotes_it() -> None:
    op = parse_client_op('{"op":"refresh","token":"a.b.c"}')
    assert op == RefreshOp(op="refresh", token="a.b.c")
    assert parse_client_op('{"op":"refresh","token":""}') == RefreshOp(op="refresh", token="")
    for frame, field in [
        ('{"op":"refresh"}', "token"),
        ('{"op":"refresh","token":5}', "token"),
        ('{"op":"refresh","token":"secret.jwt.value","x":1}', "x"),
    ]:
        with pytest.raises(Invalid) as failure:
            parse_client_op(frame)
        assert failure.value.field == field
        assert "secret" not in str(failure.value)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=10,
)


@given(
    st.dictionaries(st.sampled_from(["op", "topic", "token", "x"]) | st.text(max_size=4), json_like)
)
def test_any_object_parses_or_raises_invalid(value: dict[str, object]) -> None:
    try:
        parse_client_op(json.dumps(value))
    except Invalid as exc:
        assert exc.field
    else:
        assert value["op"] in ("subscribe", "unsubscribe", "ping", "refresh")


def test_connect_query() -> None:
    params = parse_connect({"user_id": ["alice"], "topics": ["a,b,,a"], "_": ["123"]}, 64)
    assert params.user_id == "alice"
    assert params.topics == ("a", "b")
    with pytest.raises(Invalid) as failure:
        parse_connect({"user_id": ["a"], "topics": ["a,b,c"]}, 2)
    assert failure.value.field == "topics"


@given(
    st.dictionaries(
        st.sampled_from(["user_id", "topics", "since", "token", "other"]),
        st.lists(st.text(max_size=30), min_size=1, max_size=2),
    )
)
def test_any_query_parses_or_raises_invalid(query: dict[str, list[str]]) -> None:
    try:
        params = parse_connect(query, 8)
    except Invalid as exc:
        assert exc.field
    else:
        assert params.user_id == query["user_id"][0]
        assert len(params.topics) <= 8


def test_split_query_decodes_what_needs_it_and_passes_the_rest_as_is() -> None:
    query = split_query("user_id=a+b&topics=x%2Cy&k=%C3%A9&&plain=v&plain=w&empty=")
    assert query == {
        "user_id": ["a b"],
        "topics": ["x,y"],
        "k": ["\xe9"],
        "plain": ["v", "w"],
        "empty": [""],
    }


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=20), max_size=5))
def test_split_query_inverts_urlencode(params: dict[str, str]) -> None:
    assert split_query(urlencode(params)) == {k: [v] for k, v in params.items()}


@given(st.text(max_size=30))
def test_a_query_of_one_plain_parameter_reads_as_the_general_loop_reads_it(raw: str) -> None:
    """One parameter with nothing to decode is split without the loop; an empty part
    appended (which the loop skips) sends the same query through the loop."""
    try:
        looped = split_query(raw + "&")
    except Invalid:
        return
    assert split_query(raw) == looped
