"""Request builders for tests (the production builder lives in gateway.client)."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from gateway.api.v1 import gateway_pb2 as pb


def users(*user_ids: str) -> pb.Target:
    return pb.Target(users=pb.UserIds(user_ids=list(user_ids)))


def topic(name: str) -> pb.Target:
    return pb.Target(topic=name)


def everyone() -> pb.Target:
    return pb.Target(everyone=pb.Everyone())


def request(target: pb.Target, type: str = "test.event", **fields: Any) -> pb.PublishRequest:
    data = fields.pop("data", None)
    notification = pb.Notification(type=type, **fields)
    if data is not None:
        struct = struct_pb2.Struct()
        struct.update(data)
        notification.data.CopyFrom(struct)
    return pb.PublishRequest(target=target, notification=notification)
