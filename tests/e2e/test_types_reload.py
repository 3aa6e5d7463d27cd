"""Reloading the type registry without a restart: a ConfigMap-style symlink swap while
clients are connected and publishes stream, SIGHUP to a real process, a bad reload and a
breaking reload that keep the old registry, and a bad registry at start (exit 2)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
import yaml
from grpc import aio

from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from tests.support.gateway import StartGateway
from tests.support.helpers import free_port, gateway_process, request, users


def _entry(required: list[str], **properties: Any) -> dict[str, Any]:
    props = {"n": {"type": "integer"}, **properties}
    schema = {"type": "object", "properties": props, "required": required}
    return {"type": "ticket.updated", "schema": schema}


def _configmap(root: Path, version: str, entries: list[dict[str, Any]]) -> None:
    """Lays files out as the kubelet does: `..<version>/types.yaml`, a `..data` symlink to
    it, and `types.yaml -> ..data/types.yaml`; a new version swaps `..data` atomically."""
    real = root / f"..{version}"
    real.mkdir()
    (real / "types.yaml").write_text(yaml.safe_dump(entries))
    staging = root / "..data_tmp"
    staging.symlink_to(real.name)
    os.replace(staging, root / "..data")
    visible = root / "types.yaml"
    if not visible.is_symlink():
        visible.symlink_to("..data/types.yaml")


async def _hash(gateway: Gateway) -> str:
    assert gateway.types is not None
    return gateway.types.snapshot.hash


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - the registry has no event to wait on
            await asyncio.sleep(0.02)


async def test_a_symlink_swap_reloads_with_clients_connected_and_publishes_streaming(
    start_gateway: StartGateway, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    _configmap(tmp_path, "v1", [_entry(["n"])])
    gateway = await start_gateway(types=tmp_path, types_mode="strict", types_watch_seconds=0.05)
    first = await _hash(gateway)
    async with (
        http.ws_connect(f"http://127.0.0.1:{gateway.http_port}/ws?user_id=u") as ws,
        aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel,
    ):
        await ws.receive_json(timeout=3)
        stub = pb_grpc.NotificationGatewayStub(channel)
        accepted: list[str] = []
        stop = asyncio.Event()

        async def stream() -> None:
            n = 0
            while not stop.is_set():  # valid under both registries
                item = request(users("u"), "ticket.updated", data_json=json.dumps({"n": n}))
                accepted.append((await stub.Publish(item)).cursor)
                n += 1
                await asyncio.sleep(0.005)

        publisher = asyncio.create_task(stream())
        await asyncio.sleep(0.1)
        # v2 adds an optional property: not breaking, so it is taken
        _configmap(tmp_path, "v2", [_entry(["n"], note={"type": "string"})])
        await _until(lambda: gateway.types is not None and gateway.types.snapshot.hash != first)
        await asyncio.sleep(0.1)
        stop.set()
        await publisher
        # what v2 allows is accepted now
        note = json.dumps({"n": 1, "note": "hi"})
        accepted.append(
            (await stub.Publish(request(users("u"), "ticket.updated", data_json=note))).cursor
        )
        received = [(await ws.receive_json(timeout=3))["cursor"] for _ in accepted]
    assert received == accepted  # nothing lost, nothing refused
    assert gateway.types is not None and gateway.types.stats.reloads == 1


async def test_a_bad_reload_keeps_the_old_registry_with_one_log_line(
    start_gateway: StartGateway, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(_entry(["n"])))
    gateway = await start_gateway(types=tmp_path, types_mode="strict", types_watch_seconds=0)
    before = await _hash(gateway)
    (tmp_path / "t.yaml").write_text("type: ticket.updated\nschema: {type: strng}\n")
    caplog.set_level(logging.INFO, logger="gateway.types")
    assert not await gateway.reload_types("test")
    assert await _hash(gateway) == before
    lines = [r for r in caplog.records if r.name == "gateway.types"]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert "t.yaml#/schema/type" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]
    assert gateway.types is not None and gateway.types.stats.reload_failures == 1
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        await stub.Publish(request(users("u"), "ticket.updated", data_json='{"n": 1}'))


async def test_a_breaking_reload_is_refused_unless_allowed(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(_entry([], note={"type": "string"})))
    gateway = await start_gateway(types=tmp_path, types_watch_seconds=0)
    before = await _hash(gateway)
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(_entry(["note"], note={"type": "string"})))
    assert not await gateway.reload_types("test")  # note made required: breaking
    assert await _hash(gateway) == before
    allowing = await start_gateway(types=tmp_path, types_watch_seconds=0, types_allow_breaking=True)
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(_entry(["n"])))  # note removed: breaking
    assert await allowing.reload_types("test")
    assert allowing.types is not None and "note" not in json.dumps(
        allowing.types.snapshot.document()
    )


async def test_sighup_reloads_a_running_process_while_clients_receive(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(_entry(["n"])))
    grpc_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        "GATEWAY_TYPES": str(tmp_path),
        "GATEWAY_TYPES_MODE": "strict",
        "GATEWAY_TYPES_WATCH_SECONDS": "0",
        "GATEWAY_GRPC_PORT": str(grpc_port),
        "GATEWAY_HTTP_PORT": str(http_port),
    }
    process = await gateway_process(env=env)
    try:
        async with aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            await asyncio.wait_for(channel.channel_ready(), 10)
            stub = pb_grpc.NotificationGatewayStub(channel)
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(f"http://127.0.0.1:{http_port}/ws?user_id=u") as ws,
            ):
                await ws.receive_json(timeout=5)  # welcome
                new_type = request(users("u"), "ticket.closed", data_json="{}")
                with pytest.raises(grpc.aio.AioRpcError):
                    await stub.Publish(new_type)
                accepted: list[str] = []
                stop = asyncio.Event()

                async def stream() -> None:
                    n = 0
                    while not stop.is_set():  # valid before and after the reload
                        item = request(users("u"), "ticket.updated", data_json=f'{{"n": {n}}}')
                        accepted.append((await stub.Publish(item)).cursor)
                        n += 1
                        await asyncio.sleep(0.005)

                publisher = asyncio.create_task(stream())
                await asyncio.sleep(0.1)
                entries = [_entry(["n"]), {"type": "ticket.closed", "schema": {"type": "object"}}]
                (tmp_path / "t.yaml").write_text(yaml.safe_dump(entries))
                process.send_signal(signal.SIGHUP)
                async with asyncio.timeout(5):
                    while True:
                        try:
                            accepted.append((await stub.Publish(new_type)).cursor)
                            break
                        except grpc.aio.AioRpcError as exc:
                            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT
                            await asyncio.sleep(0.05)
                await asyncio.sleep(0.1)
                stop.set()
                await publisher
                received = [(await ws.receive_json(timeout=5))["cursor"] for _ in accepted]
        assert sorted(received) == sorted(accepted)  # nothing lost across the reload
        assert len(accepted) > 2
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    reloaded = [line for line in lines if line["msg"] == "types reloaded"]
    assert len(reloaded) == 1 and reloaded[0]["reason"] == "SIGHUP"
    assert "Traceback" not in stderr.decode()


async def test_a_bad_registry_at_start_is_exit_2_naming_file_and_pointer(tmp_path: Path) -> None:
    (tmp_path / "orders.yaml").write_text(
        yaml.safe_dump(
            [_entry(["n"]), {"type": "a.b", "schema": {"properties": {"x": {"$ref": "nope"}}}}]
        )
    )
    env = {
        **os.environ,
        "GATEWAY_TYPES": str(tmp_path),
        "GATEWAY_GRPC_PORT": "0",
        "GATEWAY_HTTP_PORT": "0",
    }
    process = await gateway_process(env=env)
    _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 2
    text = stderr.decode()
    assert "Traceback" not in text
    where = "orders.yaml#/1/schema/properties/x/$ref"
    assert f"configuration error: types: {where}: 'nope' resolves to nothing" in text


async def test_mode_without_a_registry_is_a_configuration_error() -> None:
    env = {**os.environ, "GATEWAY_TYPES_MODE": "strict"}
    process = await gateway_process(env=env)
    _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 2
    assert "types_mode=strict needs a registry" in stderr.decode()
