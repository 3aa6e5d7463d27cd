"""The publishers' door at its edges: values protobuf can carry but the gateway cannot hold
(times outside the years 1-9999, durations (ttl, receipt_deadline) past 10,000 years, nanos
out of range or of the wrong sign, numbers past a double) and bytes protobuf cannot read.
Each is INVALID_ARGUMENT naming the field, with no traceback and at most one log line; the
limits themselves pass."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.api.v1 import gateway_pb2 as pb
from gateway.app import Gateway
from tests.support.gateway import Connect
from tests.support.helpers import everyone, request, users

_MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
_MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
_MAX_TTL = 315_576_000_000


def _at(seconds: int, nanos: int = 0) -> pb.PublishRequest:
    bad = request(everyone(), "a.b")
    bad.notification.created_at.seconds = seconds
    bad.notification.created_at.nanos = nanos
    return bad


def _ttl(seconds: int, nanos: int = 0) -> pb.PublishRequest:
    bad = request(everyone(), "a.b")
    bad.notification.ttl.seconds = seconds
    bad.notification.ttl.nanos = nanos
    return bad


def _deadline(seconds: int, nanos: int = 0) -> pb.PublishRequest:
    """The other Duration of the request: its range is checked before whether receipts are
    on, so a gateway without receipts answers it the same way."""
    bad = request(users("u"), "a.b")
    bad.notification.receipt_deadline.seconds = seconds
    bad.notification.receipt_deadline.nanos = nanos
    return bad


_BAD = {
    "created_at int64 max": (_at(2**63 - 1), "notification.created_at.seconds: must fall in"),
    "created_at int64 min": (_at(-(2**63)), "notification.created_at.seconds: must fall in"),
    "created_at year 10000": (_at(_MAX_SECONDS + 1), "notification.created_at.seconds: must"),
    "created_at year 0": (_at(_MIN_SECONDS - 1), "notification.created_at.seconds: must fall"),
    "created_at nanos -1": (_at(0, -1), "notification.created_at.nanos: must be 0 to 999999999"),
    "created_at nanos 1e9": (_at(0, 10**9), "notification.created_at.nanos: must be 0 to"),
    "ttl huge": (_ttl(2**62), "notification.ttl.seconds: must be at most 315576000000"),
    "ttl int64 min": (_ttl(-(2**63)), "notification.ttl.seconds: must be at most"),
    "ttl nanos wrong sign": (_ttl(5, -1), "notification.ttl.nanos: must be -999999999 to"),
    "ttl nanos 2e9": (_ttl(0, 2 * 10**9), "notification.ttl.nanos: must be -999999999 to"),
    "receipt_deadline huge": (
        _deadline(2**62),
        "notification.receipt_deadline.seconds: must be at most 315576000000",
    ),
    "receipt_deadline int64 min": (
        _deadline(-(2**63)),
        "notification.receipt_deadline.seconds: must be at most",
    ),
    "receipt_deadline nanos wrong sign": (
        _deadline(5, -1),
        "notification.receipt_deadline.nanos: must be -999999999 to",
    ),
    "receipt_deadline nanos 2e9": (
        _deadline(0, 2 * 10**9),
        "notification.receipt_deadline.nanos: must be -999999999 to",
    ),
    "data_json 1e400": (
        request(everyone(), "a.b", data_json='{"x": 1e400}'),
        "notification.data.x: a number beyond a double's range",
    ),
    "data_json -1e400 nested": (
        request(everyone(), "a.b", data_json='{"a": {"b": [1, -1E+400]}}'),
        "notification.data.a.b[1]: a number beyond a double's range",
    ),
    "data_json 400-digit integer": (
        request(everyone(), "a.b", data_json='{"n": ' + "9" * 400 + "}"),
        "notification.data.n: a number beyond a double's range",
    ),
    "data_json lone surrogate": (
        request(everyone(), "a.b", data_json='{"s": "\\ud800"}'),
        "notification.data_json: not valid JSON",
    ),
    "data_json too deep": (
        request(everyone(), "a.b", data_json='{"x": ' + "[" * 300 + "]" * 300 + "}"),
        "notification.data_json: not valid JSON (recursion limit exceeded",
    ),
}


def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert "Traceback" not in caplog.text
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 1, caplog.text


async def _invalid_argument(call: Awaitable[object]) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT, failure.value.details()
    return str(failure.value.details())


@pytest.mark.parametrize(("bad", "message"), list(_BAD.values()), ids=list(_BAD))
async def test_out_of_range_fields_are_invalid_argument(
    stub, caplog: pytest.LogCaptureFixture, bad: pb.PublishRequest, message: str
) -> None:
    caplog.set_level(logging.DEBUG)
    details = await _invalid_argument(stub.Publish(bad))
    assert details.startswith(message), details
    _quiet(caplog)


async def test_the_limits_themselves_are_accepted(stub, connect: Connect) -> None:
    client = await connect("edge")
    accepted = [
        _at(_MIN_SECONDS),
        _at(_MAX_SECONDS, 999_999_999),
        _ttl(_MAX_TTL, 999_999_999),
        request(users("edge"), "a.b", data_json='{"x": 1.7976931348623157e308, "s": "e999"}'),
        request(users("edge"), "a.b", data_json='{"n": ' + "9" * 300 + "}"),
    ]
    for item in accepted:
        item.target.CopyFrom(users("edge"))
        await stub.Publish(item)
    got = [(await client.notification())["notification"] for _ in accepted]
    assert [n["created_at"] for n in got[:2]] == [
        "0001-01-01T00:00:00.000Z",
        "9999-12-31T23:59:59.999Z",
    ]
    assert got[3]["data"] == {"x": 1.7976931348623157e308, "s": "e999"}
    assert got[4]["data"] == {"n": int("9" * 300)}


async def test_a_batch_refuses_only_its_bad_items(stub) -> None:
    items = [request(everyone(), "a.b"), _at(2**63 - 1), _ttl(1, -1), request(everyone(), "a.b")]
    items.append(request(everyone(), "a.b", data_json='{"x": 1e999}'))
    response = await stub.PublishBatch(pb.PublishBatchRequest(requests=items))
    codes = [r.code for r in response.results]
    assert codes == [0, 3, 3, 0, 3]
    assert response.results[1].message.startswith("notification.created_at.seconds:")
    assert response.results[2].message.startswith("notification.ttl.nanos:")
    assert response.results[4].message.startswith("notification.data.x:")


_TRUNCATED = b"\x08\xff"  # field 1, a varint cut short: undecodable as any message
#: field 1 as the byte 0xff: a string that is not UTF-8 (GetPresence, Disconnect, health),
#: or a nested message cut short (Publish, PublishBatch)
_FIELD_1_FF = b"\x0a\x01\xff"
_BAD_UTF8 = request(everyone(), "a.b").SerializeToString().replace(b"a.b", b"a\xffb")


@pytest.mark.parametrize(
    "method",
    [
        "/gateway.api.v1.NotificationGateway/Publish",
        "/gateway.api.v1.NotificationGateway/PublishBatch",
        "/gateway.api.v1.NotificationGateway/GetPresence",
        "/gateway.api.v1.NotificationGateway/Disconnect",
        "/grpc.health.v1.Health/Check",
    ],
)
@pytest.mark.parametrize(
    "payload", [_TRUNCATED, _FIELD_1_FF], ids=["truncated-varint", "field-1-ff"]
)
async def test_undecodable_bytes_are_invalid_argument(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, method: str, payload: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        call = channel.unary_unary(
            method, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        details = await _invalid_argument(call(payload))
    assert details.startswith("request: not a valid protobuf message ("), details
    _quiet(caplog)


async def test_a_type_that_is_not_utf8_is_invalid_argument(gateway: Gateway) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        call = channel.unary_unary(
            "/gateway.api.v1.NotificationGateway/Publish",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        details = await _invalid_argument(call(_BAD_UTF8))
    assert "String field had bad UTF-8" in details, details


async def test_undecodable_bytes_in_a_stream_end_it_after_what_came_before(
    gateway: Gateway, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    """A good message, then bytes protobuf cannot read: one answer (published), then
    INVALID_ARGUMENT, and nothing more reaches the subscriber.

    The client writes the bad message only once the good one is answered, and writes nothing
    after it: grpc.aio's client turns a write that loses the race with the server's status
    into its own INTERNAL ("Internal error from Core", debug string `Failed "execute_batch":
    (SendMessageOperation)`, grpc/grpc#36066, still unfixed in 1.85). With a request
    iterator of three (good, bad, good) the third write lost that race about once in 1,300
    calls under load and the test failed, though the gateway had sent INVALID_ARGUMENT (a
    client that waits for the status Core delivers sees it every time). Written this way,
    the test still fails if the bad message is answered or skipped (the read times out), if
    the status or its message is wrong, or if anything more is published.
    """
    caplog.set_level(logging.DEBUG)
    client = await connect("streamer")
    good = request(users("streamer"), "a.b").SerializeToString()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        call = channel.stream_stream(
            "/gateway.api.v1.NotificationGateway/PublishStream",
            request_serializer=lambda b: b,
            response_deserializer=pb.PublishResponse.FromString,
        )()
        await call.write(good)
        answer = await asyncio.wait_for(call.read(), 10)
        assert isinstance(answer, pb.PublishResponse), answer
        await call.write(_TRUNCATED)
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await asyncio.wait_for(call.read(), 10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT, failure.value.details()
    assert str(failure.value.details()).startswith("request: not a valid protobuf message (")
    assert (await client.notification())["cursor"] == answer.cursor
    await client.nothing()
    _quiet(caplog)


async def test_well_formed_health_checks_pass_the_guard(gateway: Gateway) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
