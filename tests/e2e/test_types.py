"""Publishing against the type registry, live over gRPC and WebSocket: modes, nested error
paths, `$ref`s, formats, target kinds, defaults, size limits, a batch with one bad item,
`GET /types` and the registry's metrics."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from tests.support.gateway import StartGateway
from tests.support.helpers import ROOT, everyone, request, topic, users

EXAMPLES = ROOT / "examples" / "types"

SHIPPED = {"order_id": 42, "carrier": "dhl", "eta": "2026-12-08T10:00:00Z"}
CREATED = {
    "order_id": 42,
    "total": {"amount": 1999, "currency": "EUR"},
    "items": [{"sku": "ABC-1", "qty": 1}, {"sku": "DEF-2", "qty": 2}, {"sku": "GHI-3", "qty": 1}],
}


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    directory = tmp_path / "types"
    shutil.copytree(EXAMPLES, directory)
    return directory


async def _stub_for(gateway: Gateway) -> AsyncIterator[pb_grpc.NotificationGatewayStub]:
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        yield pb_grpc.NotificationGatewayStub(channel)


@pytest.fixture
async def strict(start_gateway: StartGateway, registry: Path) -> Gateway:
    return await start_gateway(types=registry, types_mode="strict")


@pytest.fixture
async def strict_stub(strict: Gateway) -> AsyncIterator[pb_grpc.NotificationGatewayStub]:
    async for stub in _stub_for(strict):
        yield stub


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data)


async def _refused(call: Any) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT, failure.value.details()
    return str(failure.value.details())


_BAD = {
    "typo in a field": (
        {**SHIPPED, "ordr": 1},
        "order.shipped",
        "notification.data: Additional properties are not allowed ('ordr' was unexpected)",
    ),
    "missing field": (
        {"carrier": "dhl", "eta": "2026-12-08T10:00:00Z"},
        "order.shipped",
        'notification.data: "order_id" is a required property',
    ),
    "enum": ({**SHIPPED, "carrier": "owl"}, "order.shipped", "notification.data.carrier: "),
    "date-time format": (
        {**SHIPPED, "eta": "tomorrow"},
        "order.shipped",
        'notification.data.eta: "tomorrow" is not a "date-time"',
    ),
    "uri format": (
        {**SHIPPED, "tracking_url": "not a uri"},
        "order.shipped",
        "notification.data.tracking_url: ",
    ),
    "nested array item": (
        {**CREATED, "items": [*CREATED["items"][:2], {"sku": "X", "qty": 1}]},
        "order.created",
        'notification.data.items[2].sku: "X" is shorter than 3 characters',
    ),
    "through a $ref": (
        {**CREATED, "total": {"amount": 1, "currency": "eur"}},
        "order.created",
        "notification.data.total.currency: ",
    ),
    "email format": (
        {"changed_at": "2026-12-06T10:00:00Z", "contact": "nope"},
        "account.password_changed",
        'notification.data.contact: "nope" is not a "email"',
    ),
}


@pytest.mark.parametrize(("data", "kind", "message"), _BAD.values(), ids=list(_BAD))
async def test_data_that_breaks_its_schema_names_the_place(
    strict_stub: pb_grpc.NotificationGatewayStub, data: dict[str, Any], kind: str, message: str
) -> None:
    for via in ({"data_json": _json(data)}, {"data": data}):  # both spellings of data
        details = await _refused(strict_stub.Publish(request(users("u"), kind, **via)))
        assert details.startswith(message), details


async def test_strict_refuses_an_unregistered_type_with_a_suggestion(
    strict_stub: pb_grpc.NotificationGatewayStub,
) -> None:
    details = await _refused(strict_stub.Publish(request(users("u"), "order.shiped")))
    assert details == (
        "notification.type: 'order.shiped' is not a registered type (did you mean 'order.shipped'?)"
    )
    details = await _refused(strict_stub.Publish(request(users("u"), "zzz.unrelated")))
    assert details == "notification.type: 'zzz.unrelated' is not a registered type"


async def test_target_kinds_and_the_size_limit_still_apply(
    strict_stub: pb_grpc.NotificationGatewayStub,
) -> None:
    details = await _refused(
        strict_stub.Publish(request(everyone(), "order.shipped", data_json=_json(SHIPPED)))
    )
    assert details == "target: 'order.shipped' may be published to users only (got everyone)"
    big = {
        "starts_at": "2026-12-24T22:00:00Z",
        "minutes": 30,
        "details_url": "https://x.y/" + "a" * 70_000,
    }
    details = await _refused(
        strict_stub.Publish(request(topic("ops"), "system.maintenance", data_json=_json(big)))
    )
    assert details.startswith("notification: encoded size")


async def test_valid_notifications_are_delivered_with_the_types_defaults(
    strict: Gateway, strict_stub: pb_grpc.NotificationGatewayStub, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(f"http://127.0.0.1:{strict.http_port}/ws?user_id=u") as ws:
        await ws.receive_json(timeout=3)  # welcome
        await strict_stub.Publish(request(users("u"), "order.shipped", data_json=_json(SHIPPED)))
        frame = await ws.receive_json(timeout=3)
        assert frame["notification"]["data"] == SHIPPED
        assert frame["notification"]["priority"] == "high"  # the type's default
        await strict_stub.Publish(
            request(users("u"), "order.shipped", data=SHIPPED, priority=pb.PRIORITY_LOW)
        )
        frame = await ws.receive_json(timeout=3)
        assert frame["notification"]["priority"] == "low"  # the publisher's choice wins


async def test_a_batch_with_one_bad_item_publishes_the_others(
    strict_stub: pb_grpc.NotificationGatewayStub,
) -> None:
    bad = {**CREATED, "items": [*CREATED["items"][:2], {"sku": "X", "qty": 1}]}
    items = [
        request(users("u"), "order.created", data_json=_json(CREATED)),
        request(users("u"), "order.created", data_json=_json(bad)),
        request(users("u"), "order.shiped", data_json=_json(SHIPPED)),
        request(users("u"), "order.shipped", data_json=_json(SHIPPED)),
    ]
    response = await strict_stub.PublishBatch(pb.PublishBatchRequest(requests=items))
    assert [r.code for r in response.results] == [0, 3, 3, 0]
    assert response.results[1].message.startswith("notification.data.items[2].sku: ")
    assert response.results[2].message.endswith("(did you mean 'order.shipped'?)")
    assert all(r.cursor for r in (response.results[0], response.results[3]))


async def test_registered_mode_checks_known_types_and_counts_the_others(
    start_gateway: StartGateway, registry: Path, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(types=registry)  # registered: the default with a registry
    async for stub in _stub_for(gateway):
        await stub.Publish(request(users("u"), "anything.else", data_json='{"x": 1}'))
        await _refused(stub.Publish(request(users("u"), "order.shipped", data_json="{}")))
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/metrics") as response:
        text = await response.text()
    assert "gateway_types_unregistered_total 1.0" in text
    assert "gateway_types_refused_total 1.0" in text
    snapshot = gateway.types.snapshot if gateway.types else None
    assert snapshot is not None
    assert f'gateway_types_registry{{hash="{snapshot.hash}",mode="registered"}} 1.0' in text


async def test_a_deprecated_type_is_accepted_and_counted(
    strict: Gateway, strict_stub: pb_grpc.NotificationGatewayStub
) -> None:
    await strict_stub.Publish(request(users("u"), "order.sent", data_json='{"order_id": 1}'))
    assert strict.types is not None and strict.types.stats.deprecated == 1


async def test_off_mode_serves_the_registry_but_checks_nothing(
    start_gateway: StartGateway, registry: Path
) -> None:
    gateway = await start_gateway(types=registry, types_mode="off")
    async for stub in _stub_for(gateway):
        await stub.Publish(request(everyone(), "order.shipped", data_json='{"ordr": 1}'))


async def test_get_types_with_etag(strict: Gateway, http: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{strict.http_port}/types"
    async with http.get(url) as response:
        assert response.status == 200
        etag = response.headers["ETag"]
        body = await response.json()
    assert body["mode"] == "strict"
    assert body["hash"] in etag
    names = [t["type"] for t in body["types"]]
    assert names == sorted(names)
    assert "order.shipped" in names
    shipped = next(t for t in body["types"] if t["type"] == "order.shipped")
    assert shipped["targets"] == ["users"]
    assert shipped["priority"] == "high"
    assert shipped["example"]["carrier"] == "dhl"
    assert shipped["schema"]["required"] == ["order_id", "carrier", "eta"]
    assert [s["shared"] for s in body["shared"]] == ["money"]
    async with http.get(url, headers={"If-None-Match": etag}) as response:
        assert response.status == 304


async def test_get_types_without_a_registry(gateway: Gateway, http: aiohttp.ClientSession) -> None:
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/types") as response:
        body = await response.json()
    assert body["mode"] == "off"
    assert body["types"] == []


async def test_list_types_over_grpc(
    strict: Gateway, strict_stub: pb_grpc.NotificationGatewayStub
) -> None:
    answer = await strict_stub.ListTypes(pb.ListTypesRequest())
    assert strict.types is not None
    assert answer.hash == strict.types.snapshot.hash
    assert answer.mode == "strict"
    names = [t.type for t in answer.types]
    assert names == sorted(strict.types.snapshot.types)
    shipped = answer.types[names.index("order.shipped")]
    assert json.loads(shipped.schema_json)["required"] == ["order_id", "carrier", "eta"]
    assert json.loads(shipped.example_json)["carrier"] == "dhl"
    assert list(shipped.targets) == ["users"]
    assert shipped.default_priority == pb.PRIORITY_HIGH
    account = answer.types[names.index("account.password_changed")]
    assert account.default_ttl.seconds == 86400
    sent = answer.types[names.index("order.sent")]
    assert sent.deprecated and sent.deprecation == "use order.shipped"
    assert [s.name for s in answer.shared] == ["money"]
    again = await strict_stub.ListTypes(pb.ListTypesRequest(if_none_match=answer.hash))
    assert again.unchanged and not again.types and again.hash == answer.hash


async def test_list_types_without_a_registry(stub: pb_grpc.NotificationGatewayStub) -> None:
    answer = await stub.ListTypes(pb.ListTypesRequest())
    assert answer.mode == "off" and not answer.types and not answer.unchanged


async def test_get_types_across_origins(
    start_gateway: StartGateway, registry: Path, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(types=registry)
    url = f"http://127.0.0.1:{gateway.http_port}/types"
    async with http.get(url, headers={"Origin": "https://app.example"}) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    listed = await start_gateway(types=registry, allowed_origins="https://app.example")
    url = f"http://127.0.0.1:{listed.http_port}/types"
    async with http.get(url, headers={"Origin": "https://app.example"}) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    async with http.get(url, headers={"Origin": "https://evil.example"}) as response:
        assert "Access-Control-Allow-Origin" not in response.headers
