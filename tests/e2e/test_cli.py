"""The two-terminal quickstart: `notification-gateway listen` and `publish` against a gateway."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

import aiohttp
import jwt
import pytest

from gateway.app import Gateway
from tests.support.gateway import StartGateway
from tests.support.helpers import free_port, gateway_process


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    """`python -m gateway *args` with both its outputs piped."""
    return await gateway_process(*args, stdout=asyncio.subprocess.PIPE)


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await _spawn(*args)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_publish_reaches_listen(gateway: Gateway) -> None:
    listener = await _spawn(
        "listen",
        "--url",
        f"ws://127.0.0.1:{gateway.http_port}/ws",
        "--user",
        "alice",
        "--topics",
        "news",
    )
    assert listener.stdout is not None
    try:
        welcome = json.loads(await asyncio.wait_for(listener.stdout.readline(), 30))
        assert welcome["event"] == "welcome" and welcome["topics"] == ["news"]
        grpc_address = f"127.0.0.1:{gateway.grpc_port}"
        code, out, err = await _cli(
            "publish",
            "--grpc",
            grpc_address,
            "--user",
            "alice",
            "--type",
            "demo.hello",
            "--data",
            '{"x": 1}',
            "--title",
            "Hi",
            "--priority",
            "high",
            "--id",
            "cli-1",
        )
        assert code == 0, err
        reply = json.loads(out)
        assert reply["id"] == "cli-1" and reply["delivered"] == 1
        event = json.loads(await asyncio.wait_for(listener.stdout.readline(), 10))
        assert event["cursor"] == reply["cursor"]
        assert event["notification"]["data"] == {"x": 1}
        assert event["notification"]["priority"] == "high"

        code, out, _ = await _cli(
            "publish", "--grpc", grpc_address, "--topic", "news", "--type", "news.flash"
        )
        assert code == 0
        event = json.loads(await asyncio.wait_for(listener.stdout.readline(), 10))
        assert event["notification"]["type"] == "news.flash"
    finally:
        listener.terminate()
        await listener.wait()


async def test_publish_reports_errors(gateway: Gateway) -> None:
    grpc_address = f"127.0.0.1:{gateway.grpc_port}"
    code, _, err = await _cli("publish", "--grpc", grpc_address, "--everyone", "--type", "Bad")
    assert code == 1 and err.startswith("INVALID_ARGUMENT: notification.type:")
    code, _, err = await _cli(
        "publish", "--grpc", grpc_address, "--everyone", "--type", "a.b", "--data", "[1]"
    )
    assert code == 2 and "--data: must be a JSON object" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("publish", "--user", "a", "--type", "a.b", "--ttl", "nan"), "--ttl: not a number"),
        (("publish", "--user", "a", "--type", "a.b", "--ttl", "1e300"), "--ttl: not a number"),
        (("publish", "--user", "a", "--type", "a.b", "--ttl", "-1"), "--ttl: must not be neg"),
        (("publish", "--user", "a", "--type", "a.b", "--grpc", ""), "--grpc: the gateway's"),
        (("listen", "--user", "a", "--url", "notaurl"), "--url: url must be ws://"),
    ],
)
async def test_bad_flag_values_are_one_line_and_exit_2(
    args: tuple[str, ...], expected: str
) -> None:
    """Before: --ttl nan/1e300 and --grpc '' were tracebacks (or gRPC's C-core lines), and
    listen retried a malformed URL forever."""
    code, _, err = await _cli(*args)
    assert code == 2 and expected in err and "Traceback" not in err, err


async def test_listen_reports_a_refusal(gateway: Gateway) -> None:
    code, _, err = await _cli(
        "listen", "--url", f"ws://127.0.0.1:{gateway.http_port}/ws", "--user", "bad user"
    )
    assert code == 1 and "refused: HTTP 400" in err and '"field": "user_id"' in err


async def test_listen_sends_its_token_in_the_subprotocol(start_gateway: StartGateway) -> None:
    """With a JWT gateway: no token is 401 (the reason shown), a token for another user 403."""
    secret = "test-secret-that-is-long-enough-for-hs256"
    gateway = await start_gateway(jwt_secret=secret)
    url = f"ws://127.0.0.1:{gateway.http_port}/ws"
    code, _, err = await _cli("listen", "--url", url, "--user", "alice")
    assert code == 1 and "refused: HTTP 401" in err and "bearer.<jwt>" in err
    bobs = jwt.encode({"sub": "bob", "exp": time.time() + 60}, secret, algorithm="HS256")
    code, _, err = await _cli("listen", "--url", url, "--user", "alice", "--token", bobs)
    assert code == 1 and "refused: HTTP 403" in err and "another user" in err


async def _start_gateway(http_port: int, grpc_port: int) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "GATEWAY_HTTP_PORT": str(http_port),
        "GATEWAY_GRPC_PORT": str(grpc_port),
        "GATEWAY_GRACE_SECONDS": "3",
    }
    proc = await gateway_process(env=env, stderr=asyncio.subprocess.DEVNULL)
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"http://127.0.0.1:{http_port}/readyz") as ready:
                    if ready.status == 200:
                        return proc
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("the gateway did not start")


async def _line(stream: asyncio.StreamReader | None) -> dict[str, Any]:
    assert stream is not None
    line = await asyncio.wait_for(stream.readline(), 15)
    assert line, "the listener's output ended"
    value: dict[str, Any] = json.loads(line)
    return value


async def test_listen_survives_a_gateway_restart_and_exits_on_sigint() -> None:
    http_port, grpc_port = free_port(), free_port()
    grpc_address = f"127.0.0.1:{grpc_port}"
    gateway = await _start_gateway(http_port, grpc_port)
    listener = await _spawn(
        "listen",
        "--url",
        f"ws://127.0.0.1:{http_port}/ws",
        "--user",
        "alice",
    )
    try:
        assert (await _line(listener.stdout))["event"] == "welcome"
        code, out, err = await _cli(
            "publish", "--grpc", grpc_address, "--user", "alice", "--type", "before.restart"
        )
        assert code == 0, err
        first = await _line(listener.stdout)
        assert first["cursor"] == json.loads(out)["cursor"]

        gateway.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(gateway.wait(), 10) == 0
        gateway = await _start_gateway(http_port, grpc_port)
        code, out, err = await _cli(
            "publish", "--grpc", grpc_address, "--user", "alice", "--type", "after.restart"
        )
        assert code == 0, err
        after = json.loads(out)["cursor"]

        lines = []
        while not lines or lines[-1].get("event") != "notification":
            lines.append(await _line(listener.stdout))
        events = [line["event"] for line in lines]
        assert events == ["welcome", "resumed", "resync", "notification"], lines
        assert lines[1]["complete"] is False and lines[1]["since"] == first["cursor"]
        assert lines[3]["notification"]["type"] == "after.restart"
        assert lines[3]["cursor"] == after

        listener.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(listener.wait(), 10) == 0
        assert listener.stderr is not None
        states = [json.loads(line) for line in (await listener.stderr.read()).splitlines()]
        assert {"state": "disconnected", "code": 1001} in [
            {k: s[k] for k in ("state", "code") if k in s} for s in states
        ]
        assert states[-1]["state"] == "closed"
    finally:
        for proc in (listener, gateway):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_serve_help_describes_every_setting() -> None:
    """Each flag's help is the setting's docstring (what the docs' reference shows)."""
    from gateway.config import Settings

    code, out, _ = await _cli("serve", "--help")
    assert code == 0
    text = " ".join(out.split())
    for name, info in Settings.model_fields.items():
        assert f"--{name.replace('_', '-')}" in text
        assert info.description
        first_words = " ".join(info.description.split()[:4])
        assert first_words in text, name
