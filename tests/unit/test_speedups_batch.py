"""The compiled PublishBatch reader (gateway/csrc/batch.c) is the twin of the Python path.

`translate.batch_inputs` reads the request's bytes in C and hands what it declines to the
Python path; `translate.batch_inputs_py` parses with upb and runs the Python path for
every item. Hypothesis throws batches at both, valid and hostile field by field and byte
by byte (cut, flipped, unknown and repeated fields, text that is not UTF-8, a priority
past the enum), and every outcome must be the same: the same items with the same values
and the same encoded JSON, the same `Invalid` (field and rule) per refused item, the same
whole-request refusal (an undecodable request, a wrong count).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.api.v1 import gateway_pb2 as pb
from gateway.grpc import translate
from gateway.grpc.translate import batch_inputs, batch_inputs_py
from gateway.models import MAX_BATCH_ITEMS, Invalid, PublishItem, data_of, encode_notification
from gateway.speedups import speedups
from tests.support.leaks import assert_no_leak
from tests.support.publish_requests import requests

pytestmark = pytest.mark.skipif(speedups is None, reason="GATEWAY_NO_SPEEDUPS=1")

RULES = settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ACCEPTED_AT = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def _ids() -> Iterator[str]:
    return (f"gen-{n}" for n in itertools.count())


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _described(given: PublishItem | Invalid) -> tuple[Any, ...]:
    if isinstance(given, Invalid):
        return ("invalid", type(given), given.field, given.rule)
    # repr tells 1 from 1.0 and True in data; the encoding is what clients receive. The C
    # reader carries a data_json that is its own encoding (canon.c) where Python parses
    # it: compared as the dict it stands for, and by the encoding
    n = given.notification
    body = encode_notification(n)
    if n.data_json is not None:
        assert n.data is None and body.count(n.data_json) == 1
        given = given._replace(notification=n._replace(data=data_of(n), data_json=None))
    return (repr(given), body)


def _outcome(read: Any, data: bytes) -> tuple[Any, ...]:
    # the models' path makes an absent id with new_notification_id(): counted here too
    made = (f"model-{n}" for n in itertools.count())
    saved = translate.new_notification_id
    translate.new_notification_id = lambda: next(made)  # type: ignore[assignment]
    try:
        items = read(data, ACCEPTED_AT, _ids())
    except Invalid as exc:
        return ("refused", exc.field, exc.rule)
    finally:
        translate.new_notification_id = saved
    return tuple(_described(item) for item in items)


#: Raw pieces appended to an item's bytes: an unknown field, a second target or
#: notification (upb merges them), a notification field repeated or of the wrong wire
#: type, text that is not UTF-8, a 10-byte priority, a Struct, a malformed tail.
_SNIPPETS = [
    b"\x18\x05",
    _field(1, _field(2, b"t2")),
    _field(1, b"\x1a\x00"),
    _field(2, _field(2, b"a.b")),
    _field(2, b"\x30\x02"),
    _field(2, b"\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
    _field(2, b"\x30\x82\x80\x00"),
    _field(2, b"\x10\x01"),
    _field(2, _field(2, b"\xff\xfe")),
    _field(2, _field(9, b'{"a":"\xc3"}')),
    _field(2, _field(5, _field(1, _field(1, b"k") + _field(2, b"\x11" + b"\x00" * 8)))),
    _field(2, _field(99, b"")),
    _field(1, _field(1, _field(1, b"\xed\xa0\x80"))),
    b"\x12\x05ab",
    b"\x0a",
]


@st.composite
def batches(draw: st.DrawFn) -> bytes:
    items = [r.SerializeToString() for r in draw(st.lists(requests(), min_size=1, max_size=4))]
    how = draw(st.sampled_from(["plain"] * 6 + ["snippet", "flip", "cut", "top", "many"]))
    if how == "snippet":
        i = draw(st.integers(0, len(items) - 1))
        items[i] += draw(st.sampled_from(_SNIPPETS))
    data = b"".join(_field(1, item) for item in items)
    if how == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    elif how == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "top":
        data += draw(st.sampled_from([b"\x10\x01", _field(2, b""), b"\x0a\x00"]))
    elif how == "many":
        data = data * draw(st.sampled_from([2, MAX_BATCH_ITEMS + 1]))
    return data


@RULES
@given(batches())
def test_the_c_reader_and_the_python_path_give_the_same_outcomes(data: bytes) -> None:
    assert _outcome(batch_inputs, data) == _outcome(batch_inputs_py, data)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x0a\x00" * (MAX_BATCH_ITEMS + 1), b"\x0a\x05ab", b"\xff", b"\x08\x01"],
    ids=["empty", "too-many", "truncated", "bad-key", "wrong-type"],
)
def test_whole_request_refusals_are_the_same(data: bytes) -> None:
    assert _outcome(batch_inputs, data) == _outcome(batch_inputs_py, data)


def _common(n: int) -> bytes:
    return pb.PublishBatchRequest(
        requests=[
            pb.PublishRequest(
                target=pb.Target(users=pb.UserIds(user_ids=[f"u{i}"])),
                notification=pb.Notification(
                    type="bench.event", title="t", data_json=f'{{"seq":{i},"x":"é"}}'
                ),
            )
            for i in range(n)
        ]
        + [
            pb.PublishRequest(
                target=pb.Target(topic="news"),
                notification=pb.Notification(id="k-1", type="a.b", priority=pb.PRIORITY_HIGH),
            ),
            pb.PublishRequest(
                target=pb.Target(everyone=pb.Everyone()), notification=pb.Notification(type="a")
            ),
        ]
    ).SerializeToString()


def _no_fallback(index: int) -> PublishItem | Invalid:
    raise AssertionError(f"item {index} was left to Python")


def test_the_common_batch_is_read_in_c_without_upb() -> None:
    assert speedups is not None and translate.BATCH_FROM_BYTES
    data = _common(20)
    items = speedups.read_batch(data, ACCEPTED_AT, _ids(), _no_fallback)
    assert items is not None
    assert [_described(i) for i in items] == [
        _described(i) for i in batch_inputs_py(data, ACCEPTED_AT, _ids())
    ]


def test_the_reader_leaks_nothing() -> None:
    assert speedups is not None
    read = speedups.read_batch
    common = _common(10)
    declined = _common(2) + _field(1, _field(1, b"\x1a\x00") + _field(2, _field(5, b"")))
    ids = _ids()

    def fallback(index: int) -> PublishItem | Invalid:
        return Invalid("x", "y")

    def refusing(index: int) -> PublishItem | Invalid:
        raise Invalid("request", "no")

    def both() -> None:
        read(common, ACCEPTED_AT, ids, fallback)
        read(declined, ACCEPTED_AT, ids, fallback)
        with pytest.raises(Invalid):
            read(declined, ACCEPTED_AT, ids, refusing)

    assert_no_leak(both, [common, declined, ACCEPTED_AT, ids, fallback], rounds=500)


def _one(publish: Any, request: pb.PublishRequest) -> tuple[Any, ...]:
    made = (f"model-{n}" for n in itertools.count())
    saved = translate.new_notification_id
    translate.new_notification_id = lambda: next(made)  # type: ignore[assignment]
    try:
        item = publish(request)
    except Invalid as exc:
        return ("refused", exc.field, exc.rule)
    finally:
        translate.new_notification_id = saved
    # accepted_at is each call's own now(): an item that did not set created_at gets it
    if not request.notification.HasField("created_at"):
        assert item.notification.created_at.tzinfo is UTC
        item = item._replace(notification=item.notification._replace(created_at=ACCEPTED_AT))
    return _described(item)


@RULES
@given(requests())
def test_a_unary_publish_reads_the_same_in_c(request: pb.PublishRequest) -> None:
    # Publish and each PublishStream message: upb's message serialized again, read in C
    assert _one(translate.publish_input, request) == _one(translate.publish_input_py, request)
