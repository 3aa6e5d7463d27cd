"""The `topics` claim: exact names and prefix patterns, compiled once per distinct claim."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.connection.grants import BadClaim, topic_grant


def test_absent_claim_allows_any_topic_unless_required() -> None:
    assert topic_grant({"sub": "a"}, required=False) is None
    with pytest.raises(BadClaim, match="requires"):
        topic_grant({"sub": "a"}, required=True)


def test_exact_names_and_prefix_patterns() -> None:
    grant = topic_grant({"topics": ["news", "orders.*", "user-7/*"]}, required=False)
    assert grant is not None
    for topic in ["news", "orders.42", "orders.", "orders.a.b", "user-7/inbox"]:
        assert grant.allows(topic), topic
    for topic in ["news2", "new", "orders", "ordersx", "Orders.1", "user-8/inbox", "x"]:
        assert not grant.allows(topic), topic
    assert grant.first_refused(["news", "orders.1"]) is None
    assert grant.first_refused(["news", "sports", "orders"]) == "sports"


def test_star_alone_allows_all_and_empty_list_allows_none() -> None:
    everything = topic_grant({"topics": ["*"]}, required=True)
    assert everything is not None and everything.allows("anything")
    nothing = topic_grant({"topics": []}, required=True)
    assert nothing is not None and not nothing.allows("news")
    assert nothing.first_refused([]) is None


def test_one_grant_per_distinct_claim() -> None:
    first = topic_grant({"topics": ["a", "b.*"]}, required=False)
    assert first is topic_grant({"topics": ["a", "b.*"]}, required=False)
    assert first is not topic_grant({"topics": ["a"]}, required=False)


@pytest.mark.parametrize(
    "claim",
    ["news", {"news": True}, None, 7, ["news", 7], ["news", None], [["a"]], [""], ["a*b"], ["**"]],
)
def test_malformed_claims_are_refused(claim: object) -> None:
    with pytest.raises(BadClaim):
        topic_grant({"topics": claim}, required=False)


@given(
    st.lists(st.text(max_size=6).map(lambda p: p.replace("*", "")), max_size=4),
    st.lists(st.text(min_size=0, max_size=6).map(lambda p: p.replace("*", "")), max_size=4),
    st.text(max_size=10),
)
def test_allows_is_exact_match_or_prefix(exact: list[str], prefixes: list[str], topic: str) -> None:
    names = [e for e in exact if e]
    grant = topic_grant({"topics": names + [p + "*" for p in prefixes]}, required=False)
    assert grant is not None
    assert grant.allows(topic) == (topic in names or any(topic.startswith(p) for p in prefixes))
