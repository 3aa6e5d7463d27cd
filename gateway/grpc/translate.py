"""Protobuf → pydantic at the gRPC edge: build the models' input, turn their errors into fields.

The rules live in `models`; this only reshapes messages (Struct → dict, Timestamp →
datetime, enum → word) and names a failing field the way the .proto spells it, e.g.
`target.users.user_ids[2]` or `notification.data.price`.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic_core
from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2
from google.protobuf.message import DecodeError
from pydantic import ValidationError

from gateway.api.v1 import gateway_pb2 as pb
from gateway.grpc.accept import PRIORITIES, compiled_reader, fast_item
from gateway.grpc.decoding import Undecodable
from gateway.models import (
    MAX_BATCH_ITEMS,
    Invalid,
    PublishInput,
    PublishItem,
    accepted,
    describe_errors,
    new_notification_id,
)
from gateway.speedups import speedups

__all__ = [
    "BATCH_FROM_BYTES",
    "batch_inputs",
    "batch_inputs_py",
    "may_hold_huge_number_py",
    "publish_input",
    "publish_input_py",
    "publish_inputs",
    "struct_to_dict",
]

_MAX_SAFE_INT = 2**53


def publish_input(request: pb.PublishRequest) -> PublishItem:
    """The accepted form of one PublishRequest, or `Invalid` naming the field.

    With the compiled module the message is serialized again and read in C as a batch of
    one (upb's serialization costs a tenth of its attribute reads); what C declines takes
    the Python path over the message itself, so the outcome is `publish_input_py`'s.
    """
    if _read_batch is None:
        return publish_input_py(request)
    accepted_at = datetime.now(UTC)
    ids = iter(new_notification_id, "")
    data = request.SerializeToString()
    size = len(data)
    # the batch's one item: field 1, length-delimited (a varint length)
    head = bytes((10, size)) if size < 128 else b"\n" + _varint(size)
    outcomes = _read_batch(
        head + data, accepted_at, ids, lambda _: _item(request, accepted_at, ids)
    )
    outcome = _item(request, accepted_at, ids) if outcomes is None else outcomes[0]
    if isinstance(outcome, Invalid):
        raise outcome
    return outcome


def publish_input_py(request: pb.PublishRequest) -> PublishItem:
    """`publish_input` in Python only: the twin."""
    # one id at most: made on demand (a batch's source costs a generator and a full id
    # to set up, for the many ids it then makes cheaply)
    outcome = _item(request, datetime.now(UTC), iter(new_notification_id, ""))
    if isinstance(outcome, Invalid):
        raise outcome
    return outcome


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def publish_inputs(
    requests: Sequence[pb.PublishRequest],
    accepted_at: datetime | None = None,
    ids: Iterator[str] | None = None,
) -> list[PublishItem | Invalid]:
    """Each request's accepted form, in order, or the `Invalid` that names its field.

    Items without an id or created_at get them here (one timestamp per call: they were
    accepted together; ids from one batch source, `new_notification_id.many`).
    """
    if accepted_at is None:
        accepted_at = datetime.now(UTC)
    if ids is None:
        ids = new_notification_id.many()
    return [_item(request, accepted_at, ids) for request in requests]


def batch_inputs_py(
    data: bytes, accepted_at: datetime | None = None, ids: Iterator[str] | None = None
) -> list[PublishItem | Invalid]:
    """A PublishBatchRequest's bytes as `publish_inputs` of its items; raises `Invalid`
    for the whole request (undecodable, as `DecodeGuard` says it; or too few or many items)."""
    requests = _parse_batch(data).requests
    count = len(requests)
    if not 1 <= count <= MAX_BATCH_ITEMS:
        raise Invalid("requests", f"1 to {MAX_BATCH_ITEMS} items (got {count})")
    return publish_inputs(requests, accepted_at, ids)


def batch_inputs(
    data: bytes, accepted_at: datetime | None = None, ids: Iterator[str] | None = None
) -> list[PublishItem | Invalid]:
    """`batch_inputs_py` with the common items read from the bytes in C (accept.py's
    `compiled_reader`): the same items, ids, errors and order; the twin when not built."""
    if _read_batch is None:
        return batch_inputs_py(data, accepted_at, ids)
    if accepted_at is None:
        accepted_at = datetime.now(UTC)
    if ids is None:
        ids = new_notification_id.many()
    parsed: list[pb.PublishBatchRequest] = []  # upb's, made for the first declined item

    def fallback(index: int) -> PublishItem | Invalid:
        if not parsed:
            parsed.append(_parse_batch(data))
        return _item(parsed[0].requests[index], accepted_at, ids)

    inputs = _read_batch(data, accepted_at, ids, fallback)
    return batch_inputs_py(data, accepted_at, ids) if inputs is None else inputs


def _parse_batch(data: bytes) -> pb.PublishBatchRequest:
    try:
        return pb.PublishBatchRequest.FromString(data)
    except DecodeError as exc:  # phrased as DecodeGuard phrases a request it cannot read
        field, _, rule = Undecodable(str(exc)).message().partition(": ")
        raise Invalid(field, rule) from None


def _item(
    request: pb.PublishRequest, accepted_at: datetime, ids: Iterator[str]
) -> PublishItem | Invalid:
    # the common form without a model per item (accept.py); the models for the rest,
    # and for every refusal, so that they alone phrase the errors
    try:
        item = fast_item(request, accepted_at, ids, _json_object)
    except Invalid:
        item = None
    if item is not None:
        return item
    try:
        raw = _raw(request, accepted_at)
    except Invalid as exc:
        return exc
    outcome = _validate(raw)
    return outcome if isinstance(outcome, Invalid) else accepted(outcome)


def _validate(raw: dict[str, Any]) -> PublishInput | Invalid:
    try:
        return PublishInput.model_validate(raw)
    except ValidationError as exc:
        return describe_errors(exc)


def _raw(request: pb.PublishRequest, accepted_at: datetime) -> dict[str, Any]:
    # one function and one read per field: this runs for every item of every batch
    target = request.target
    kind = target.WhichOneof("kind")
    if kind == "users":
        shape: dict[str, Any] = {"kind": "users", "user_ids": tuple(target.users.user_ids)}
    elif kind == "topic":
        shape = {"kind": "topic", "topic": target.topic}
    elif kind == "everyone":
        shape = {"kind": "everyone"}
    else:
        shape = {}  # unset: {} -> "set one of"
    if not request.HasField("notification"):
        return {"target": shape}
    n = request.notification
    raw: dict[str, Any] = {"id": n.id or new_notification_id(), "title": n.title, "body": n.body}
    kind = n.type
    if kind:
        raw["type"] = kind
    if n.priority:  # UNSPECIFIED stays out: "normal", or the type's default (gateway.types)
        priority = PRIORITIES.get(n.priority)
        if priority is None:
            raise Invalid("notification.priority", f"unknown Priority value {n.priority}")
        raw["priority"] = priority
    data_json = n.data_json
    if data_json:
        if n.HasField("data"):
            raise Invalid("notification.data_json", "set data or data_json, not both")
        raw["data"] = _json_object(data_json)
    elif n.HasField("data"):
        raw["data"] = struct_to_dict(n.data, "notification.data")
    raw["created_at"] = _timestamp(n.created_at) if n.HasField("created_at") else accepted_at
    if n.HasField("ttl"):
        raw["ttl"] = _duration(n.ttl)
    if n.HasField("receipt_deadline"):  # receipts (issue 17)
        raw["receipt_deadline"] = _duration(n.receipt_deadline, "notification.receipt_deadline")
    return {"target": shape, "notification": raw}


# The ranges google/protobuf/timestamp.proto and duration.proto define: outside them
# datetime and timedelta raise (OverflowError, OSError) and nanos would be read silently wrong.
_FIRST_SECOND = -62_135_596_800  # 0001-01-01T00:00:00Z
_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z
_MAX_DURATION_SECONDS = 315_576_000_000  # 10,000 years
_NANOS = 1_000_000_000


def _timestamp(ts: timestamp_pb2.Timestamp) -> datetime:
    seconds, nanos = ts.seconds, ts.nanos
    if not _FIRST_SECOND <= seconds <= _LAST_SECOND:
        raise Invalid(
            "notification.created_at.seconds",
            f"must fall in the years 0001 to 9999 ({_FIRST_SECOND} to {_LAST_SECOND}; "
            f"got {seconds})",
        )
    if not 0 <= nanos < _NANOS:
        raise Invalid("notification.created_at.nanos", f"must be 0 to 999999999 (got {nanos})")
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=nanos // 1000)


def _duration(d: duration_pb2.Duration, field: str = "notification.ttl") -> timedelta:
    seconds, nanos = d.seconds, d.nanos
    if not -_MAX_DURATION_SECONDS <= seconds <= _MAX_DURATION_SECONDS:
        raise Invalid(
            f"{field}.seconds",
            f"must be at most {_MAX_DURATION_SECONDS} (10,000 years) either way (got {seconds})",
        )
    if not -_NANOS < nanos < _NANOS or (seconds > 0 > nanos) or (seconds < 0 < nanos):
        raise Invalid(
            f"{field}.nanos",
            f"must be -999999999 to 999999999 with the sign of seconds (got {nanos})",
        )
    return timedelta(seconds=seconds, microseconds=nanos // 1000)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = pydantic_core.from_json(text, allow_inf_nan=False)
    except ValueError as exc:
        raise Invalid("notification.data_json", f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise Invalid("notification.data_json", "must be a JSON object")
    # a number past a double's range parses as inf and would be sent as Infinity, which no
    # JSON parser reads; only text with a 3-digit exponent or a 309-digit run can hold one
    if _may_hold_huge_number(text):
        _refuse_huge_numbers(value, "notification.data")
    return value


def may_hold_huge_number_py(text: str) -> bool:
    """Whether `text` holds `e`/`E`, an optional `+` and 3 digits, or a run of 309 digits."""
    return (
        ("e" in text and _HUGE_EXPONENT.search(text) is not None)
        or ("E" in text and _HUGE_EXPONENT_UPPER.search(text) is not None)
        or (len(text) >= 309 and _HUGE_DIGITS.search(text) is not None)
    )


# Patterns that begin with a literal, each only on text that can hold it: `re` scans for a
# literal first character in C at a few instructions a character, where `[eE]...` tried
# its character set at every position (7.8k instructions per ~100-byte item, against
# 3.7k; callgrind). As one alternation the digit run was tried at every character too.
_HUGE_EXPONENT = re.compile(r"e\+?\d{3}")
_HUGE_EXPONENT_UPPER = re.compile(r"E\+?\d{3}")
_HUGE_DIGITS = re.compile(r"\d{309}")
#: In C with the compiled module: one pass, ~10x fewer instructions (test_speedups.py).
_may_hold_huge_number = (
    may_hold_huge_number_py if speedups is None else speedups.may_hold_huge_number
)


def _refuse_huge_numbers(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_huge_numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_huge_numbers(item, f"{path}[{i}]")
    # exact for ints of any length (math.isfinite would raise OverflowError on them);
    # bool is an int too, and always in range
    elif isinstance(value, float | int) and not abs(value) <= sys.float_info.max:
        raise Invalid(path, "a number beyond a double's range (clients would read Infinity)")


def struct_to_dict(struct: struct_pb2.Struct, path: str) -> dict[str, Any]:
    """A Struct as the JSON object it stands for; whole numbers come back as ints."""
    return {key: _value(value, f"{path}.{key}") for key, value in struct.fields.items()}


def _value(value: struct_pb2.Value, path: str) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise Invalid(path, "NaN and Infinity are not valid JSON")
        # Struct carries every number as a double; a publisher that sent 1 means 1, not 1.0.
        if number.is_integer() and abs(number) <= _MAX_SAFE_INT:
            return int(number)
        return number
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value, path)
    if kind == "list_value":
        return [_value(item, f"{path}[{i}]") for i, item in enumerate(value.list_value.values)]
    return None


_read_batch = compiled_reader(_json_object)
if _read_batch is not None and speedups is not None:
    # data_json parsed by batch.c as _json_object parses it (from_json, a dict, the
    # screen), without this module's Python call; whatever it declines comes back here
    speedups.configure_json(pydantic_core.from_json)
#: True when `batch_inputs` reads the bytes in C: PublishBatch is then registered to take
#: the request's bytes (servicer.register), and upb parses only what C declines.
BATCH_FROM_BYTES = _read_batch is not None
