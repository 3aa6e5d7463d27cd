"""Every bad publish gets INVALID_ARGUMENT naming the field and the rule."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
import pytest

from gateway.api.v1 import gateway_pb2 as pb
from tests.support.helpers import everyone, request, topic, users

_BAD = [
    (
        pb.PublishRequest(notification=pb.Notification(type="a.b")),
        "target: required: set one of users, topic, everyone",
    ),
    (pb.PublishRequest(target=everyone()), "notification: required"),
    (request(everyone(), ""), "notification.type: required"),
    (request(everyone(), "Order.Shipped"), "notification.type: String should match pattern"),
    (request(everyone(), "a" * 65), "notification.type: String should have at most 64"),
    (request(everyone(), "order..shipped"), "notification.type: String should match"),
    (request(users(), "a.b"), "target.users.user_ids: Tuple should have at least 1 item"),
    (request(users("ok", ""), "a.b"), "target.users.user_ids[1]: String should have at least"),
    (request(users("has space"), "a.b"), "target.users.user_ids[0]: String should match"),
    (request(users("x" * 129), "a.b"), "target.users.user_ids[0]: String should have at most"),
    (
        request(users(*[f"u{i}" for i in range(1001)]), "a.b"),
        "target.users.user_ids: Tuple should have at most 1000 items after validation, not 1001",
    ),
    (request(topic(""), "a.b"), "target.topic: String should have at least 1"),
    (request(topic("a,b"), "a.b"), "target.topic: String should match"),
    (request(everyone(), "a.b", id="has space"), "notification.id: String should match"),
    (request(everyone(), "a.b", priority=42), "notification.priority: unknown Priority value 42"),
    (
        request(everyone(), "a.b", data={"n": float("nan")}),
        "notification.data.n: NaN and Infinity are not valid JSON",
    ),
    (request(everyone(), "a.b", data_json="[1]"), "notification.data_json: must be a JSON object"),
    (request(everyone(), "a.b", data_json="{nope"), "notification.data_json: not valid JSON"),
    (
        request(everyone(), "a.b", data={"a": 1}, data_json="{}"),
        "notification.data_json: set data or data_json, not both",
    ),
    (request(everyone(), "a.b", body="x" * 70_000), "notification: encoded size 70"),
]


async def _invalid_argument(call: Awaitable[object]) -> str:
    """The details of a call that must fail with INVALID_ARGUMENT."""
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return str(failure.value.details())


@pytest.mark.parametrize(("bad", "message"), _BAD, ids=[m[:40] for _, m in _BAD])
async def test_bad_publish_is_invalid_argument(stub, bad: pb.PublishRequest, message: str) -> None:
    details = await _invalid_argument(stub.Publish(bad))
    assert details.startswith(message), details


async def test_negative_ttl_is_invalid(stub) -> None:
    bad = request(everyone(), "a.b")
    bad.notification.ttl.seconds = -5
    details = await _invalid_argument(stub.Publish(bad))
    assert details == "notification.ttl: Value error, must not be negative"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (pb.DisconnectRequest(user_id=""), "user_id: String should have at least 1"),
        (pb.DisconnectRequest(user_id="a", code=1006), "code: must be 0, 1000 or 4000-4999"),
        (pb.DisconnectRequest(user_id="a", reason="x" * 121), "reason: at most 120 bytes"),
    ],
)
async def test_bad_disconnect(stub, bad: pb.DisconnectRequest, message: str) -> None:
    details = await _invalid_argument(stub.Disconnect(bad))
    assert details.startswith(message), details


async def test_bad_presence(stub) -> None:
    details = await _invalid_argument(
        stub.GetPresence(pb.GetPresenceRequest(user_ids=["ok", "bad id"]))
    )
    assert details.startswith("user_ids[1]: String should match")
