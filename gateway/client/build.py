"""PublishRequests from plain values: the one builder every client in this package uses.

`publish_request(users=["alice"], type="order.shipped", data={...})` builds one request;
`with_id` gives a request an idempotency key made here when the caller gave none, so a
retried request is the same notification to the gateway (a repeat id is not delivered
again) rather than a second one. `check_address` is the publishers' check of where to send.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from gateway.api.v1 import gateway_pb2 as pb
from gateway.contract import new_notification_id

__all__ = ["PRIORITIES", "as_request", "check_address", "publish_request", "with_id"]

PRIORITIES = {
    "": pb.PRIORITY_UNSPECIFIED,
    "low": pb.PRIORITY_LOW,
    "normal": pb.PRIORITY_NORMAL,
    "high": pb.PRIORITY_HIGH,
    "urgent": pb.PRIORITY_URGENT,
}


def publish_request(
    *,
    type: str,
    users: Sequence[str] = (),
    topic: str | None = None,
    everyone: bool = False,
    title: str = "",
    body: str = "",
    data: dict[str, Any] | None = None,
    id: str = "",
    priority: str = "",
    ttl: timedelta | None = None,
    receipt_deadline: timedelta | None = None,
) -> pb.PublishRequest:
    """One PublishRequest; exactly one of `users`, `topic`, `everyone` picks the target.

    `data` travels as `data_json` (no Struct to build), so numbers arrive as given.
    Raises `ValueError` for a missing or doubled target or an unknown priority; every
    other rule is the gateway's to check (it answers INVALID_ARGUMENT naming the field).
    """
    chosen = [bool(users), topic is not None, everyone].count(True)
    if chosen != 1:
        raise ValueError("choose exactly one target: users, topic or everyone")
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of low, normal, high, urgent (got {priority!r})")
    if users:
        target = pb.Target(users=pb.UserIds(user_ids=list(users)))
    elif topic is not None:
        target = pb.Target(topic=topic)
    else:
        target = pb.Target(everyone=pb.Everyone())
    notification = pb.Notification(
        id=id,
        type=type,
        title=title,
        body=body,
        priority=PRIORITIES[priority],
        data_json=json.dumps(data, separators=(",", ":")) if data else "",
    )
    if ttl is not None:
        notification.ttl.FromTimedelta(ttl)
    if receipt_deadline is not None:  # receipts: reported undelivered when not acked by then
        notification.receipt_deadline.FromTimedelta(receipt_deadline)
    return pb.PublishRequest(target=target, notification=notification)


def with_id(request: pb.PublishRequest) -> pb.PublishRequest:
    """`request` with an idempotency key: its own, or a fresh UUIDv7 set in place."""
    if not request.notification.id:
        request.notification.id = new_notification_id()
    return request


def as_request(item: pb.PublishRequest | Mapping[str, Any]) -> pb.PublishRequest:
    """A batch item given as a request or as `publish_request` keywords, with an id."""
    if isinstance(item, pb.PublishRequest):
        return with_id(item)
    return with_id(publish_request(**item))


def check_address(address: str) -> None:
    """`ValueError` for an empty gRPC target: gRPC would print plain-text lines from its C
    core to stderr on every call, then fail it with UNKNOWN."""
    if not address.strip():
        raise ValueError("the gateway's gRPC address is empty: give host:port")
