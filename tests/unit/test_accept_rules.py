"""The gRPC edge's fast path drops no rule: what it accepts, the models accept the same.

`gateway.grpc.accept.fast_item` accepts the common PublishRequest without a pydantic model
per item (issue 20). Hypothesis throws requests at it, valid and hostile field by field,
and for each one compares it with the models' path (`_raw` + `PublishInput`): whenever the
fast path accepts, the models must accept the same request with the same values; whenever
the models refuse, `publish_inputs` must answer their error. Plus the pieces the fast path
leans on: the bounded caches, the batch ids, the orjson encoding, the local fingerprint.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pydantic_core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.api.v1 import gateway_pb2 as pb
from gateway.grpc import accept
from gateway.grpc.translate import _json_object, _raw, _validate, publish_inputs
from gateway.log.base import local_fingerprint
from gateway.models import (
    Invalid,
    Notification,
    NotificationItem,
    TopicTarget,
    UsersTarget,
    accepted,
    encode_notification,
    new_notification_id,
)
from tests.support.publish_requests import json_value, requests

RULES = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ACCEPTED_AT = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def _fast(request: pb.PublishRequest) -> object:
    try:
        return accept.fast_item(request, ACCEPTED_AT, new_notification_id.many(), _json_object)
    except Invalid:
        return None


@RULES
@given(requests())
def test_what_the_fast_path_accepts_the_models_accept_the_same(request: pb.PublishRequest) -> None:
    fast = _fast(request)
    if fast is None:
        return
    assert not isinstance(fast, Invalid)
    same = pb.PublishRequest()
    same.CopyFrom(request)
    same.notification.id = fast.notification.id  # type: ignore[attr-defined]
    model = _validate(_raw(same, ACCEPTED_AT))
    assert not isinstance(model, Invalid), f"the models refuse what the fast path took: {model}"
    assert accepted(model) == fast


@RULES
@given(requests())
def test_every_refusal_is_the_models_error(request: pb.PublishRequest) -> None:
    (outcome,) = publish_inputs([request])
    try:
        model = _validate(_raw(request, ACCEPTED_AT))
    except Invalid as exc:
        model = exc
    if isinstance(model, Invalid):
        assert isinstance(outcome, Invalid)
        assert (outcome.field, outcome.rule) == (model.field, model.rule)
    else:
        assert not isinstance(outcome, Invalid), outcome


def test_the_fast_path_takes_the_usual_request_and_reuses_its_target() -> None:
    request = pb.PublishRequest(
        target=pb.Target(users=pb.UserIds(user_ids=["alice"])),
        notification=pb.Notification(type="order.shipped", data_json='{"n":1}'),
    )
    first, second = _fast(request), _fast(request)
    assert first is not None and second is not None
    assert first.target is second.target  # type: ignore[attr-defined]
    assert first.notification.data == {"n": 1}  # type: ignore[attr-defined]


def test_the_caches_stay_bounded() -> None:
    for i in range(accept.CACHE_ENTRIES + 50):
        request = pb.PublishRequest(
            target=pb.Target(topic=f"t{i}"), notification=pb.Notification(type=f"t.n{i}")
        )
        assert _fast(request) is not None
    assert len(accept._topics) <= accept.CACHE_ENTRIES
    assert len(accept._types) <= accept.CACHE_ENTRIES
    # evicted entries are validated again, not trusted
    bad = pb.PublishRequest(target=pb.Target(topic="a b"), notification=pb.Notification(type="x"))
    assert _fast(bad) is None


def test_batch_ids_are_unique_time_ordered_uuid7() -> None:
    ids = []
    for _ in range(50):
        source = new_notification_id.many()
        ids += [next(source) for _ in range(40)]
        ids.append(new_notification_id())
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)


def test_a_batchs_ids_count_up_by_one_across_the_tables_rows() -> None:
    source = new_notification_id.many()
    tails = [uuid.UUID(next(source)).int & (2**48 - 1) for _ in range(700)]  # past 2 rows
    assert tails == list(range(tails[0], tails[0] + 700))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=5), json_value, max_size=5), st.text(max_size=8))
def test_orjson_encodes_as_pydantic_core_did(data: dict[str, object], title: str) -> None:
    data = json.loads(json.dumps(data, allow_nan=False)) if _finite(data) else {}
    n = Notification(id="k", type="a.b", title=title, data=data, created_at=ACCEPTED_AT)
    fields = {
        "id": "k",
        "type": "a.b",
        "title": title,
        "body": "",
        "data": n.data,
        "priority": "normal",
        "created_at": "2026-05-06T07:08:09.123Z",
    }
    assert encode_notification(n) == pydantic_core.to_json(fields)


def _finite(data: object) -> bool:
    try:
        json.dumps(data, allow_nan=False)
    except ValueError:
        return False
    return True


def test_integers_past_64_bits_still_encode() -> None:
    n = Notification(id="k", type="a.b", data={"big": 2**70}, created_at=ACCEPTED_AT)
    assert json.loads(encode_notification(n))["data"] == {"big": 2**70}


def test_the_local_fingerprint_ignores_created_at_only() -> None:
    def body(title: str, at: datetime) -> bytes:
        item = NotificationItem("k", "a.b", title, "", {}, "normal", at, None, None)
        return encode_notification(item)

    alice, bob = UsersTarget(user_ids=("alice",)), UsersTarget(user_ids=("bob",))
    later = ACCEPTED_AT + timedelta(seconds=5)
    same = local_fingerprint(alice, body("t", ACCEPTED_AT))
    assert local_fingerprint(alice, body("t", later)) == same
    assert local_fingerprint(bob, body("t", ACCEPTED_AT)) != same
    assert local_fingerprint(TopicTarget(topic="alice"), body("t", ACCEPTED_AT)) != same
    assert local_fingerprint(alice, body("u", ACCEPTED_AT)) != same


_number_text = st.one_of(
    st.integers(-(10**400), 10**400).map(str),
    st.sampled_from(["1e400", "-1E+309", "1e308", "1e-400", "2.5e10", "1.7976931348623157e308"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), _number_text), max_size=4), st.booleans()
)
def test_the_screen_for_huge_numbers_misses_none(pairs: list[tuple[str, str]], nest: bool) -> None:
    from gateway.grpc.translate import _refuse_huge_numbers

    body = ",".join(f'"{k}":{v}' for k, v in pairs)
    text = f'{{"n":{{{body}}}}}' if nest else f"{{{body}}}"
    value = json.loads(text)
    try:
        _refuse_huge_numbers(value, "notification.data")
        expected = None
    except Invalid as exc:
        expected = exc.field
    try:
        _json_object(text)
        got = None
    except Invalid as exc:
        got = exc.field
    assert got == expected


def test_tuple_maker_fills_in_fields_added_later() -> None:
    from typing import NamedTuple

    import pytest

    from gateway.models import tuple_maker

    class Grown(NamedTuple):
        a: int
        b: str
        added: float | None = None  # what another feature adds, with its default

    assert tuple_maker(Grown, 2)((1, "x")) == Grown(1, "x")
    assert tuple_maker(Grown)((1, "x", 2.5)).added == 2.5

    class Required(NamedTuple):
        a: int
        b: str

    with pytest.raises(TypeError, match=r"Required\.b has no default"):
        tuple_maker(Required, 1)
