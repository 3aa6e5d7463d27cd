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
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError

from gateway.api.v1 import gateway_pb2 as pb
from gateway.models import (
    EveryoneTarget,
    NotificationItem,
    NotificationType,
    PublishItem,
    Target,
    TopicTarget,
    UsersTarget,
    tuple_maker,
)

__all__ = ["CACHE_ENTRIES", "PRIORITIES", "fast_item"]

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
_notification_item = tuple_maker(NotificationItem)
# upb's methods taken from the classes once: `message.HasField(...)` looked the method up
# and bound it on every call (~1.7k instructions each, against ~1.3k; callgrind)
_which_kind = pb.Target.WhichOneof
_request_has = pb.PublishRequest.HasField
_has = pb.Notification.HasField

_users: dict[tuple[str, ...], UsersTarget] = {}
_topics: dict[str, TopicTarget] = {}
_types: set[str] = set()


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
        _types.add(kind)
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
