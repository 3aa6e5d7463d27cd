"""Fail fast and say why: `python -m gateway` as a user runs it, exit codes and stderr.

Every line the process writes to stderr must be a JSON object; a setting that cannot work
is one `configuration error: <field>: <rule>` line and exit code 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio

from gateway.app import Gateway
from gateway.config import ConfigError, Settings
from tests.support.gateway import StartGateway
from tests.support.helpers import ROOT, free_port, gateway_process


def _env(**settings: str) -> dict[str, str]:
    """This environment without GATEWAY_* variables, plus `settings` and free ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_HTTP_PORT"] = str(free_port())
    env["GATEWAY_GRPC_PORT"] = str(free_port())
    env.update(settings)
    return env


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line parsed; fails on the first line that is not a JSON object."""
    lines = []
    for line in stderr.splitlines():
        value = json.loads(line)  # raises on plain text (a traceback, a C-core log line)
        assert isinstance(value, dict), line
        lines.append(value)
    return lines


def _run(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, _json_lines(result.stderr)


def _config_errors(lines: list[dict[str, Any]]) -> list[str]:
    return [line["msg"] for line in lines if line["msg"].startswith("configuration error: ")]


def _garbage(path: Path) -> str:
    path.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    return str(path)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"GATEWAY_LOG_LEVEL": "verbose"}, "log_level: must be one of DEBUG, INFO, WARNING"),
        ({"GATEWAY_JWT_PUBLIC_KEY_FILE": "/no/key.pem"}, "jwt_public_key_file: cannot read"),
        (
            {"GATEWAY_GRPC_TLS_CERT_FILE": "/no/c.pem", "GATEWAY_GRPC_TLS_KEY_FILE": "{garbage}"},
            "grpc_tls_cert_file: cannot read '/no/c.pem'",
        ),
        ({"GATEWAY_JWT_SECRET": "too-short"}, "jwt_secret: an HS256 secret must be at least 32"),
        # before: a broken authority was a traceback from PyJWKClient, no host a 503 forever
        ({"GATEWAY_JWT_JWKS_URL": "http://[::1/jwks"}, "jwt_jwks_url: must be an http:// or"),
        ({"GATEWAY_JWT_JWKS_URL": "https:///jwks"}, "jwt_jwks_url: must be an http:// or"),
        # before: started, then refused every token ('missing the "aud" claim')
        (
            {"GATEWAY_JWT_SECRET": "x" * 32, "GATEWAY_JWT_AUDIENCE": ""},
            "jwt_audience: String should have at least 1 character",
        ),
        ({"GATEWAY_JWT_PUBLIC_KEY_FILE": "{garbage}"}, "jwt_public_key_file: "),
        (
            {"GATEWAY_GRPC_TLS_CERT_FILE": "{garbage}", "GATEWAY_GRPC_TLS_KEY_FILE": "{garbage}"},
            "grpc_tls_cert_file: not a PEM certificate",
        ),
        # workers (issue 15): each would be a gateway of its own, blind to the others
        ({"GATEWAY_WORKERS": "2"}, "workers: more than one worker needs a shared backend"),
    ],
)
def test_bad_setting_is_one_clear_line_and_exit_2(
    settings: dict[str, str], expected: str, tmp_path: Path
) -> None:
    garbage = _garbage(tmp_path / "garbage.pem")
    env = _env(**{k: v.replace("{garbage}", garbage) for k, v in settings.items()})
    code, lines = _run(env)
    assert code == 2
    errors = _config_errors(lines)
    assert len(errors) == 1 and errors[0].startswith("configuration error: " + expected), lines
    assert lines[-1]["level"] == "error" and lines[-1]["field"] == expected.split(":")[0]


def test_garbage_pem_key_is_refused_at_start(tmp_path: Path) -> None:
    code, lines = _run(_env(GATEWAY_JWT_PUBLIC_KEY_FILE=_garbage(tmp_path / "k.pem")))
    assert code == 2
    assert _config_errors(lines) == [
        f"configuration error: jwt_public_key_file: '{tmp_path / 'k.pem'}' is not a PEM "
        "public key (-----BEGIN PUBLIC KEY-----)"
    ]


def test_http_port_in_use_is_a_configuration_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, lines = _run(_env(GATEWAY_HTTP_PORT=str(port)))
    assert code == 2
    assert _config_errors(lines) == [
        f"configuration error: http_port: 127.0.0.1:{port} is in use "
        "(another gateway or program listens there)"
    ]


async def _started(proc: asyncio.subprocess.Process) -> list[dict[str, Any]]:
    """Reads stderr lines until 'gateway listening'; returns them."""
    assert proc.stderr is not None
    lines = []
    while True:
        raw = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert raw, f"gateway exited: {lines}"
        lines.append(json.loads(raw))
        if lines[-1]["msg"] == "gateway listening":
            return lines


async def test_second_gateway_on_a_taken_grpc_port_exits_2() -> None:
    """Before: gRPC's SO_REUSEPORT let both bind 50051 and publishes split between them."""
    first_env = _env()
    first = await gateway_process(env=first_env)
    try:
        await _started(first)
        grpc_port = first_env["GATEWAY_GRPC_PORT"]
        code, lines = await asyncio.to_thread(_run, _env(GATEWAY_GRPC_PORT=grpc_port))
        assert code == 2
        assert _config_errors(lines) == [
            f"configuration error: grpc_port: 127.0.0.1:{grpc_port} is in use "
            "(another gateway or program listens there)"
        ]
    finally:
        first.terminate()
        await first.wait()


async def test_grpc_listener_does_not_share_its_port(start_gateway: StartGateway) -> None:
    """A gRPC server with its defaults (SO_REUSEPORT on) cannot bind beside the gateway."""
    gateway = await start_gateway()
    intruder = aio.server()
    try:
        with pytest.raises(RuntimeError, match="Failed to bind"):
            intruder.add_insecure_port(f"127.0.0.1:{gateway.grpc_port}")
    finally:
        await intruder.stop(None)
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        await asyncio.wait_for(channel.channel_ready(), 5)
        assert channel.get_state() == grpc.ChannelConnectivity.READY


async def test_second_ctrl_c_exits_at_once_with_only_json_on_stderr() -> None:
    """A typo'd variable is named once; a second SIGINT mid-drain ends it, no traceback."""
    proc = await gateway_process(
        env=_env(GATEWAY_DRAIN_DELAY_SECONDS="20", GATEWAY_GRACE_SECONDS="30", GATEWAY_LOG_LEVL="x")
    )
    assert proc.stderr is not None
    try:
        lines = await _started(proc)
        proc.send_signal(signal.SIGINT)
        lines.append(json.loads(await asyncio.wait_for(proc.stderr.readline(), 10)))
        assert lines[-1]["msg"] == "signal received: draining"
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 5) == 1  # not the 20 s drain delay
        rest = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "Traceback" not in rest
    lines += _json_lines(rest)
    assert lines[-1]["msg"] == "second signal: exiting without finishing the drain"
    typos = [line for line in lines if "GATEWAY_LOG_LEVL" in line["msg"]]
    assert len(typos) == 1 and typos[0]["level"] == "warning"


def test_warnings_library_logs_and_uncaught_errors_are_json_lines() -> None:
    script = (
        "import logging, threading, warnings\n"
        "from gateway.logs import setup_logging\n"
        "setup_logging('INFO')\n"
        "warnings.warn('old api', DeprecationWarning, stacklevel=1)\n"
        "logging.getLogger('aiohttp.server').error('bad request')\n"
        "logging.getLogger('grpc._cython.cygrpc').warning('grpc says')\n"
        "logging.getLogger('asyncio').error('loop says')\n"
        "t = threading.Thread(target=lambda: 1 / 0, name='worker'); t.start(); t.join()\n"
        "raise RuntimeError('nobody caught me')\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    lines = _json_lines(result.stderr)
    by_logger = {(line["logger"], line["level"]): line for line in lines}
    assert "old api" in by_logger["py.warnings", "warning"]["msg"]
    assert by_logger["aiohttp.server", "error"]["msg"] == "bad request"
    assert by_logger["grpc._cython.cygrpc", "warning"]["msg"] == "grpc says"
    assert by_logger["asyncio", "error"]["msg"] == "loop says"
    thread = by_logger["gateway", "error"]
    assert thread["thread_name"] == "worker" and "ZeroDivisionError" in thread["exc"]
    uncaught = by_logger["gateway", "critical"]
    assert "RuntimeError: nobody caught me" in uncaught["exc"]


async def test_an_address_not_on_this_machine_is_a_configuration_error() -> None:
    settings = Settings(http_port=0, grpc_host="192.0.2.1", grpc_port=free_port(), insecure=True)
    gateway = Gateway(settings)
    with pytest.raises(ConfigError) as failure:
        await gateway.start()  # TEST-NET-1: never assigned to a host
    assert failure.value.field == "grpc_port"
    assert failure.value.rule.startswith("cannot listen on 192.0.2.1:")
    assert "Cannot assign requested address" in failure.value.rule
