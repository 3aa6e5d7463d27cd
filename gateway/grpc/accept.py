"""The common PublishRequest accepted without a pydantic model per item.

Validating three frozen models per item cost more than everything else a per-user
notification needs (callgrind: ~80k of ~160k instructions). Most of it is spent on values
that repeat: a backend addresses the same users, topics and types again and again. So:

- a target is validated by the models once and the validated (immutable) object is kept
  in a bounded cache keyed by what the request said; the next request naming the same
  users gets the same object, with every rule applied to it the first time;
- a notification type likewise (a small set of validated strings);
- the fields that change with every item are checked here with the models' rules
  (an id's characters and length, the priority, data as a JSON object; timestamps and
  durations with the edge's own conversions).

Anything this path is not sure of (a cache miss whose validation fails, an id outside
the common form, a negative ttl, a field it does not handle) returns None, and the caller
validates that item with the models, which also phrase the error. So it only ever decides
"accepted, with these values", and `tests/.../test_accept_rules.py` checks that what it
accepts the models accept with the same values (nothing here can drop a rule silently).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol, cast

from pydantic import TypeAdapter, ValidationError

from gateway.api.v1 import gateway_pb2 as pb
from gateway.models import (
    MAX_BATCH_ITEMS,
    EveryoneTarget,
    Invalid,
    NotificationItem,
    NotificationType,
    PublishItem,
    Target,
    TopicTarget,
    UsersTarget,
    tuple_maker,
)
from gateway.speedups import speedups

__all__ = ["CACHE_ENTRIES", "PRIORITIES", "BatchReader", "compiled_reader", "fast_item"]

#: Validated targets (and types) kept: ~0.4 KB each, so at most ~7 MB. A backend that
#: addresses more distinct users than this in turn pays the models' validation on a miss.
CACHE_ENTRIES = 16_384

_TARGET: TypeAdapter[Target] = TypeAdapter(Target)
_TYPE: TypeAdapter[str] = TypeAdapter(NotificationType)
_EVERYONE = EveryoneTarget()
#: The .proto's Priority values as the models' words; UNSPECIFIED is None: "normal", or
#: the default of the notification's type (gateway.types).
PRIORITIES: dict[int, str | None] = {
    pb.PRIORITY_UNSPECIFIED: None,
    pb.PRIORITY_LOW: "low",
    pb.PRIORITY_NORMAL: "normal",
    pb.PRIORITY_HIGH: "high",
    pb.PRIORITY_URGENT: "urgent",
}
_MAX_ID = 128  # IdempotencyKey's max_length
_publish_item = tuple_maker(PublishItem)
_notification_item = tuple_maker(NotificationItem, 9)  # data_json: its default
# upb's methods taken from the classes once: `message.HasField(...)` looked the method up
# and bound it on every call (~1.7k instructions each, against ~1.3k; callgrind)
_which_kind = pb.Target.WhichOneof
_request_has = pb.PublishRequest.HasField
_has = pb.Notification.HasField

_users: dict[tuple[str, ...], UsersTarget] = {}
_topics: dict[str, TopicTarget] = {}
#: Each type seen (and valid) as its own key: the compiled reader hands every item of a
#: type this one str object, so the notifications a gateway keeps (the log's entries,
#: receipts') share it rather than hold a copy each, and a lookup by type (the delivery
#: histogram's) reads a str that is in the caches.
_types: dict[str, str] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= CACHE_ENTRIES:
        del cache[next(iter(cache))]  # the oldest: insertion order is age
    cache[key] = value


def _users_target(user_ids: tuple[str, ...]) -> UsersTarget | None:
    try:
        target = _TARGET.validate_python({"kind": "users", "user_ids": user_ids})
    except ValidationError:
        return None
    _remember(_users, user_ids, target)
    return cast(UsersTarget, target)  # the discriminator says so


def _topic_target(topic: str) -> TopicTarget | None:
    try:
        target = _TARGET.validate_python({"kind": "topic", "topic": topic})
    except ValidationError:
        return None
    _remember(_topics, topic, target)
    return cast(TopicTarget, target)


def _known_type(kind: str) -> bool:
    if kind in _types:
        return True
    try:
        _TYPE.validate_python(kind)
    except ValidationError:
        return False
    if len(_types) < CACHE_ENTRIES:
        _types[kind] = kind
    return True


def fast_item(
    request: pb.PublishRequest,
    accepted_at: datetime,
    ids: Iterator[str],
    data_json: Callable[[str], dict[str, Any]],
) -> PublishItem | None:
    """`request` accepted with the models' rules, or None: validate it with the models.

    `ids` gives the id of an item that has none (`new_notification_id.many()`);
    `data_json` is the edge's reader of `data_json` text (it raises the edge's `Invalid`,
    which the caller lets the models' path report).
    """
    target_pb = request.target
    kind = _which_kind(target_pb, "kind")
    target: Target | None
    if kind == "users":
        # through a slice (a list, in C): tuple() of upb's repeated field read it by index
        # until an IndexError, formatted and cleared per call (~1.8k instructions)
        user_ids = tuple(target_pb.users.user_ids[:])
        target = _users.get(user_ids) or _users_target(user_ids)
    elif kind == "topic":
        topic = target_pb.topic
        target = _topics.get(topic) or _topic_target(topic)
    elif kind == "everyone":
        target = _EVERYONE
    else:
        return None
    if target is None or not _request_has(request, "notification"):
        return None
    n = request.notification
    notification_id = n.id
    if not notification_id:
        notification_id = next(ids)
    elif not (
        len(notification_id) <= _MAX_ID
        and notification_id.isascii()
        and notification_id.isprintable()  # in ASCII: 0x20-0x7e
        and " " not in notification_id
    ):
        return None
    notification_type = n.type
    priority = PRIORITIES.get(n.priority, "")
    if priority == "" or not _known_type(notification_type):
        return None
    if _has(n, "data") or _has(n, "created_at") or _has(n, "ttl") or _has(n, "receipt_deadline"):
        return None  # rarer forms: the models' path converts and checks them
    text = n.data_json
    data: dict[str, Any] = data_json(text) if text else {}
    return _publish_item(
        (
            target,
            _notification_item(
                (
                    notification_id,
                    notification_type,
                    n.title,
                    n.body,
                    data,
                    priority,
                    accepted_at,
                    None,  # ttl
                    None,  # receipt_deadline
                )
            ),
        )
    )


class BatchReader(Protocol):
    """gateway._speedups.read_batch: a PublishBatchRequest's bytes as `fast_item` would
    accept each item, the rest from `fallback(index)`; None when the request is not a plain
    list of 1 to MAX_BATCH_ITEMS items (then upb reads it as before)."""

    def __call__(
        self,
        data: bytes,
        accepted_at: datetime,
        ids: Iterator[str],
        fallback: Callable[[int], PublishItem | Invalid],
        /,
    ) -> list[PublishItem | Invalid] | None: ...


#: The fields the C reader fills in, in order (gateway/csrc/batch.c); fields added after
#: them take their defaults there too, as `tuple_maker` fills them in. A change to these
#: turns the reader off (and tests/unit/test_speedups.py fails) until batch.c follows.
_C_LAYOUT: dict[type[tuple[Any, ...]], tuple[str, ...]] = {
    PublishItem: ("target", "notification"),
    NotificationItem: (
        "id",
        "type",
        "title",
        "body",
        "data",
        "priority",
        "created_at",
        "ttl",
        "receipt_deadline",
        "data_json",
    ),
}


def _tail(cls: type[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """The defaults of `cls`'s fields after the ones batch.c reads, or None when its
    leading fields are not those (or a later one has no default)."""
    fields: tuple[str, ...] = getattr(cls, "_fields", ())
    defaults: dict[str, Any] = getattr(cls, "_field_defaults", {})
    read = _C_LAYOUT[cls]
    if fields[: len(read)] != read or any(name not in defaults for name in fields[len(read) :]):
        return None
    return tuple(defaults[name] for name in fields[len(read) :])


def compiled_reader(data_json: Callable[[str], dict[str, Any]]) -> BatchReader | None:
    """The C twin of `fast_item` over a whole batch's bytes, set up with this module's
    caches and `data_json` (the edge's reader, as `fast_item` takes it), or None without
    the compiled module."""
    publish_tail, notification_tail = _tail(PublishItem), _tail(NotificationItem)
    if speedups is None or publish_tail is None or notification_tail is None:
        return None
    priorities = tuple(PRIORITIES[n] for n in range(5))
    speedups.configure(
        _users,
        _users_target,
        _topics,
        _topic_target,
        _EVERYONE,
        _types,
        _known_type,
        data_json,
        Invalid,
        priorities,
        PublishItem,
        NotificationItem,
        MAX_BATCH_ITEMS,
        publish_tail,
        notification_tail,
    )
    reader: BatchReader = speedups.read_batch
    return reader
