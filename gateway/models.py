"""The validation rules for everything that enters the gateway, as pydantic models.

This is the single place where rules live: the gRPC edge translates protobuf into these
models, the WebSocket edge parses query strings and client frames with them. A notification
is encoded to JSON once here (`encode_notification`), whatever its audience.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal, NamedTuple, TypeVar, cast

import orjson
import pydantic_core
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from gateway.contract import MAX_BATCH_ITEMS, MAX_RECIPIENTS, new_notification_id
from gateway.speedups import speedups

__all__ = [
    "MAX_BATCH_ITEMS",
    "MAX_RECIPIENTS",
    "EveryoneTarget",
    "Identifier",
    "Invalid",
    "Notification",
    "NotificationItem",
    "NotificationType",
    "Priority",
    "PublishInput",
    "PublishItem",
    "Target",
    "TopicTarget",
    "UsersTarget",
    "accepted",
    "check_identifier",
    "data_of",
    "describe_errors",
    "encode_notification",
    "encode_notification_py",
    "new_notification_id",
    "tuple_maker",
]


#: A user ID or topic name: what a browser sends in a query string, so no whitespace,
#: control characters or commas (topics=a,b splits on commas).
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[^\s,\x00-\x1f\x7f]+$"),
]
NotificationType = Annotated[
    str,
    StringConstraints(max_length=64, pattern=r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$"),
]
_identifier = TypeAdapter(Identifier)
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
]
Priority = Literal["low", "normal", "high", "urgent"]


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a time zone")
    return value.astimezone(UTC)


def _non_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be positive")
    return value


class Notification(BaseModel):
    """One notification as accepted: every field valid, `id` and `created_at` filled in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: IdempotencyKey
    type: NotificationType
    title: str = ""
    body: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = "normal"
    created_at: Annotated[datetime, AfterValidator(_aware_utc)]
    #: How long after acceptance it may be replayed; None = as long as the log keeps it.
    ttl: Annotated[timedelta, AfterValidator(_non_negative)] | None = None
    #: Receipts (issue 17): how long addressed users have to ack before they are reported
    #: undelivered; None = no deadline. Not part of the JSON clients receive.
    receipt_deadline: Annotated[timedelta, AfterValidator(_positive)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        """An empty or missing id is generated; a missing created_at is now.

        One hook instead of two default factories: this runs for every item of a batch.
        """
        if isinstance(data, dict) and (not data.get("id") or data.get("created_at") is None):
            data = dict(data)
            if not data.get("id"):
                data["id"] = new_notification_id()
            if data.get("created_at") is None:
                data["created_at"] = datetime.now(UTC)
        return data


class UsersTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["users"] = "users"
    #: May repeat an ID; the hub delivers once per user all the same.
    user_ids: Annotated[tuple[Identifier, ...], Field(min_length=1, max_length=MAX_RECIPIENTS)]


class TopicTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["topic"] = "topic"
    topic: Identifier


class EveryoneTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["everyone"] = "everyone"


Target = Annotated[UsersTarget | TopicTarget | EveryoneTarget, Field(discriminator="kind")]


class PublishInput(BaseModel):
    """One publish request: where it goes and what it says."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    target: Target
    notification: Notification


class NotificationItem(NamedTuple):
    """An accepted notification on its way through the publish pipeline.

    The fields of `Notification`, every rule already applied (by the models, or by the
    gRPC edge's fast path that accepts only what they accept). A tuple, not a frozen model:
    one is made for every item of every batch, and a model cost more than validating it.
    """

    id: str
    type: str
    title: str
    body: str
    #: None when `data_json` carries it (read it with `data_of`).
    data: dict[str, Any] | None
    #: None: the request left it unspecified ("normal", unless its type has a default).
    priority: str | None
    created_at: datetime
    ttl: timedelta | None
    #: Receipts (issue 17); see `Notification.receipt_deadline`.
    receipt_deadline: timedelta | None
    #: `data`'s JSON as the encode writes it, when the gRPC edge's C reader carried the
    #: request's text instead of parsing it (gateway/csrc/canon.c: only text that is
    #: already its own encoding); `data` is then None. None: `data` holds it.
    data_json: bytes | None = None


def data_of(notification: NotificationItem) -> dict[str, Any]:
    """The notification's `data` as a dict, parsed from `data_json` when that carries it."""
    if notification.data_json is None:
        return notification.data if notification.data is not None else {}
    parsed: dict[str, Any] = pydantic_core.from_json(notification.data_json)
    return parsed


class PublishItem(NamedTuple):
    """One accepted publish: where it goes (a validated, shared `Target`) and what it says."""

    target: Target
    notification: NotificationItem


_T = TypeVar("_T", bound=tuple[Any, ...])


def tuple_maker(cls: type[_T], given: int | None = None) -> Callable[[tuple[Any, ...]], _T]:
    """A NamedTuple made from a tuple of its first `given` fields (all by default), in C.

    A NamedTuple's own constructor is a Python function (~1.5-2.5k instructions); the
    pipeline makes several per notification. The fields after `given` take their defaults,
    so a field another feature adds later (with a default, as the shapes ask) is filled in
    rather than silently missing; one added without a default fails here, at import.
    """
    fields: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    defaults: dict[str, Any] = cls._field_defaults  # type: ignore[attr-defined]
    count = len(fields) if given is None else given
    try:
        tail = tuple(defaults[name] for name in fields[count:])
    except KeyError as exc:
        raise TypeError(f"{cls.__name__}.{exc.args[0]} has no default: pass it") from None
    make = partial(tuple.__new__, cls)
    python = (
        cast(Callable[[tuple[Any, ...]], _T], make)
        if not tail
        else lambda values: make(values + tail)
    )
    if speedups is None:
        return python
    # gateway/csrc/maker.c: one allocation and a copy instead of partial and
    # tuple.__new__'s wrapper (~1k instructions a call); anything but a tuple to `python`
    try:
        compiled: Callable[[tuple[Any, ...]], _T] = speedups.tuple_maker(cls, tail, python)
    except TypeError:  # not laid out as a NamedTuple (e.g. a subclass with a __dict__)
        return python
    return compiled


def accepted(model: PublishInput) -> PublishItem:
    """The pipeline's form of a validated `PublishInput`."""
    n = model.notification
    priority = n.priority if "priority" in n.model_fields_set else None
    return PublishItem(
        model.target,
        NotificationItem(
            n.id,
            n.type,
            n.title,
            n.body,
            n.data,
            priority,
            n.created_at,
            n.ttl,
            n.receipt_deadline,
        ),
    )


class Invalid(ValueError):
    """A request breaks a rule: `field` names where (as the client spells it), `rule` which."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


def describe_errors(exc: ValidationError, prefix: str = "") -> Invalid:
    """The first error of `exc` as `Invalid`, its location spelled as in the .proto."""
    error = exc.errors(include_url=False)[0]
    parts: list[str] = [prefix] if prefix else []
    for item in error["loc"]:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif not (parts and parts[-1] == item):  # target.topic.topic -> target.topic
            parts.append(str(item))
    field = ".".join(parts) or "request"
    rule = error["msg"]
    if error["type"] == "missing":
        rule = "required"
    elif error["type"] == "union_tag_not_found":
        rule = "required: set one of users, topic, everyone"
    given = error.get("input")
    if isinstance(given, str) and error["type"] != "missing":
        shown = given if len(given) <= 40 else given[:40] + "..."
        rule = f"{rule} (got {shown!r})"
    extra = len(exc.errors()) - 1
    if extra:
        rule = f"{rule} (and {extra} more error{'s' if extra > 1 else ''})"
    return Invalid(field, rule)


def check_identifier(field: str, value: str) -> str:
    """`value` if it is a valid user ID or topic, else `Invalid` naming `field`."""
    try:
        return _identifier.validate_python(value)
    except ValidationError as exc:
        raise describe_errors(exc, field) from None


class _IsoUtc:
    """RFC 3339 UTC text with milliseconds. isoformat() cost as much as the rest of the
    encoding, and a batch's timestamps share their second: the second's text is cached.
    The items of a batch that did not set created_at share one datetime object (the
    call's accepted-at time): its text is kept too, so they format it once."""

    __slots__ = ("_last", "_last_text", "_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""
        self._last: datetime | None = None
        self._last_text = ""

    def __call__(self, value: datetime) -> str:
        if value is self._last:
            return self._last_text
        stamp = value.timestamp()
        second = int(stamp // 1)
        if second != self._second:
            self._prefix = value.replace(microsecond=0).isoformat()[:-6]  # drop "+00:00"
            self._second = second
        text = f"{self._prefix}.{value.microsecond // 1000:03d}Z"
        self._last = value
        self._last_text = text
        return text


_iso_utc = _IsoUtc()
_dumps = orjson.dumps


def encode_notification_py(notification: Notification | NotificationItem) -> bytes:
    """The notification as the compact JSON object clients receive; computed once per publish.

    `created_at` comes last (the idempotency fingerprint leaves it out by cutting there).
    orjson encodes in ~40% of pydantic-core's instructions; what it refuses (an integer
    past 64 bits in data) pydantic-core encodes, as before.
    """
    carried = notification.data_json if isinstance(notification, NotificationItem) else None
    fields = {
        "id": notification.id,
        "type": notification.type,
        "title": notification.title,
        "body": notification.body,
        # text the edge carried is already its own encoding (NotificationItem.data_json)
        "data": notification.data if carried is None else orjson.Fragment(carried),
        "priority": notification.priority or "normal",
        "created_at": _iso_utc(notification.created_at),
    }
    try:
        return _dumps(fields)
    except orjson.JSONEncodeError:
        if carried is not None:  # pydantic-core does not know orjson's Fragment
            fields["data"] = pydantic_core.from_json(carried)
        return pydantic_core.to_json(fields)


def _compiled_encode() -> Callable[[Notification | NotificationItem], bytes] | None:
    # gateway/csrc/encode.c: the same bytes for a NotificationItem (the outer object and
    # its strings in C, data through orjson), this twin for anything else
    if speedups is None:
        return None
    speedups.configure_encode(encode_notification_py, NotificationItem, _dumps)
    encode: Callable[[Notification | NotificationItem], bytes] = speedups.encode_notification
    return encode


#: `encode_notification_py`, in C when the compiled module is there (about a third of the
#: instructions); tests/unit/test_speedups_encode.py checks both give the same bytes.
encode_notification = _compiled_encode() or encode_notification_py
