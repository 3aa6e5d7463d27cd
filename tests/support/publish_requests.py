"""Hypothesis strategies for PublishRequests near every rule's edges, valid and hostile.

Shared by the fast path's rule tests (tests/unit/test_accept_rules.py) and the compiled
reader's twin tests (tests/unit/test_speedups_batch.py).
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

from gateway.api.v1 import gateway_pb2 as pb
from gateway.models import MAX_RECIPIENTS

# Texts near every rule's edges: valid, and broken in each way the rules name.
_tricky = st.sampled_from(
    ["", " ", "a b", "a,b", "a\x00", "a\x7f", "é", "\u2028", "x" * 128, "x" * 129, '"', "\\"]
)
# Each field is mostly valid, so that one broken field at a time reaches the fast path.
_valid_identifier = st.from_regex(r"[a-z0-9_.-]{1,12}", fullmatch=True)
identifier = st.one_of(_valid_identifier, _valid_identifier, _tricky, st.text(max_size=6))
type_name = st.one_of(
    st.sampled_from(["order.shipped", "a", "a.b-c_d", "A.b", "1a", "a..b", "a." * 40, "x" * 65]),
    st.sampled_from(["order.shipped", "a.b", "bench.event"]),
    st.from_regex(r"[a-z][a-z0-9_.-]{0,10}", fullmatch=True),
    st.text(max_size=8),
)
notification_id = st.one_of(
    st.just(""),
    st.from_regex(r"[\x21-\x7e]{1,20}", fullmatch=True),
    _tricky,
    st.text(max_size=8),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=126, max_size=131),
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)
data_json = st.one_of(
    st.just(""),
    st.just('{"n":1}'),
    st.dictionaries(st.text(max_size=5), json_value, max_size=4).map(
        lambda d: json.dumps(d, allow_nan=True)
    ),
    st.sampled_from(["[]", "1", "{", '{"a":NaN}', '{"a":1e999}', "null", ' {"a" : 1} ']),
)


@st.composite
def requests(draw: st.DrawFn) -> pb.PublishRequest:
    request = pb.PublishRequest()
    kind = draw(st.sampled_from(["users", "users", "topic", "everyone", "unset"]))
    if kind == "users":
        count = draw(st.sampled_from([0, 1, 1, 1, 2, 3, MAX_RECIPIENTS, MAX_RECIPIENTS + 1]))
        ids = draw(st.lists(identifier, min_size=min(count, 3), max_size=min(count, 3)))
        ids += [f"u{i}" for i in range(count - len(ids))]
        request.target.users.user_ids.extend(ids)
    elif kind == "topic":
        request.target.topic = draw(identifier)
    elif kind == "everyone":
        request.target.everyone.SetInParent()
    if draw(st.integers(0, 19)) == 0:
        return request  # no notification
    n = request.notification
    n.id = draw(notification_id)
    n.type = draw(type_name)
    n.title = draw(st.text(max_size=5))
    n.body = draw(st.text(max_size=5))
    n.priority = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 9, -1, 2**31 - 1]))  # type: ignore[assignment]
    n.data_json = draw(data_json)
    if draw(st.integers(0, 9)) == 0:
        n.data.update({"k": draw(st.text(max_size=3)), "n": draw(st.integers(-9, 9))})
    if draw(st.integers(0, 9)) == 0:
        n.created_at.seconds = draw(st.integers(0, 2_000_000_000))
    if draw(st.integers(0, 9)) == 0:
        n.ttl.seconds = draw(st.integers(-5, 5))
    if draw(st.integers(0, 9)) == 0:
        n.receipt_deadline.seconds = draw(st.integers(-5, 5))
    return request
