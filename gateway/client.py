"""A small Python publisher: build PublishRequests from plain values and send them.

with Publisher("127.0.0.1:50051") as pub:
    pub.publish(users=["alice"], type="order.shipped", data={"order": 42})
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Self

import grpc

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc

__all__ = ["Publisher", "publish_request"]

_PRIORITIES = {
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
) -> pb.PublishRequest:
    """One PublishRequest; exactly one of `users`, `topic`, `everyone` picks the target.

    `data` travels as `data_json` (no Struct to build), so numbers arrive as given.
    """
    chosen = [bool(users), topic is not None, everyone].count(True)
    if chosen != 1:
        raise ValueError("choose exactly one target: users, topic or everyone")
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
        priority=_PRIORITIES[priority],
        data_json=json.dumps(data, separators=(",", ":")) if data else "",
    )
    if ttl is not None:
        notification.ttl.FromTimedelta(ttl)
    return pb.PublishRequest(target=target, notification=notification)


class Publisher:
    """A blocking client for scripts and the CLI (use grpc.aio directly in async code)."""

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        if credentials is None:
            self._channel = grpc.insecure_channel(address)
        else:
            self._channel = grpc.secure_channel(address, credentials)
        self._stub = pb_grpc.NotificationGatewayStub(self._channel)  # type: ignore[no-untyped-call]
        self._metadata = [("authorization", f"Bearer {token}")] if token else []

    def publish(self, timeout: float = 10.0, **fields: Any) -> pb.PublishResponse:
        request = publish_request(**fields)
        response: pb.PublishResponse = self._stub.Publish(
            request, timeout=timeout, metadata=self._metadata
        )
        return response

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
