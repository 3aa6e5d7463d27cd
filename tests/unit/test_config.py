"""Settings: env vars and flags, fail-fast checks, and the secure-by-default bind rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config import Settings, unknown_environment
from tests.support.helpers import ROOT


def test_env_vars_are_read_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_HTTP_PORT", "9999")
    monkeypatch.setenv("GATEWAY_PUBLISH_TOKENS", "a, b,")
    settings = Settings()
    assert settings.http_port == 9999
    assert settings.publish_token_set == frozenset({"a", "b"})
    assert "a, b" not in repr(settings)  # secrets stay hidden
    assert Settings(http_port=1234).http_port == 1234  # flags win over env


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "example.com"])
def test_non_loopback_bind_needs_jwt_or_explicit_insecure(host: str) -> None:
    with pytest.raises(ValidationError) as failure:
        Settings(http_host=host)
    assert "GATEWAY_INSECURE=1" in str(failure.value)
    assert Settings(http_host=host, insecure=True).http_host == host
    assert Settings(http_host=host, jwt_secret="s" * 32).auth_required


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_is_fine(host: str) -> None:
    assert Settings(http_host=host, grpc_host=host).http_host == host


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"backend": "mysql://x"},
            "backend must be 'memory' or a redis://, rediss://, redis+sentinel:// or",
        ),
        ({"backend": "redis+sentinel://h:1"}, "name the Sentinel master"),
        ({"backend": "redis+sentinel://h:x/m"}, "bad Sentinel address"),
        ({"backend": "redis://127.0.0.1:x"}, "port is not a number"),
        ({"backend": "redis://127.0.0.1:6379/zero"}, "database must be a number"),
        ({"backend": "redis://"}, "names no host"),
        ({"backend": "redis://a:1/0,redis://a:1/0"}, "listed twice"),
        ({"backend": "redis+cluster://a:1,b"}, "bad Redis Cluster node 'b'"),
        ({"backend": "redis+cluster://a:1/0"}, "has no database number"),
        ({"backend": "redis+cluster://a:1,redis://b:1"}, "one redis+cluster:// URL"),
        ({"backend": "redis+cluster://a:1", "redis_prefix": "{gw}"}, "without braces"),
        ({"backend": "redis+cluster://a:1", "receipts": True}, "receipts need one"),
        ({"backend": "redis://a:1/0,mysql://b"}, "backend must be 'memory' or a redis://"),
        ({"backend": "redis://a:1/0,redis://b:1/0", "receipts": True}, "receipts need one"),
        ({"redis_prefix": "has space"}, "redis_prefix"),
        ({"grpc_tls_cert_file": "{file}"}, "go together"),
        ({"jwt_secret": "s" * 32, "jwt_public_key_file": "{file}"}, "only one of"),
        ({"jwt_secret": "s" * 32, "jwt_jwks_url": "http://127.0.0.1/k"}, "only one of"),
        ({"jwt_jwks_url": "file:///etc/passwd"}, "http:// or https:// URL"),
        ({"jwt_audience": "app"}, "need a JWT key"),
        ({"jwt_secret": "s" * 31}, "at least 32 bytes (RFC 7518 section 3.2); this one has 31"),
        ({"jwt_public_key_file": "/missing.pem"}, "cannot read '/missing.pem'"),
        ({"grpc_tls_cert_file": "/missing.pem", "grpc_tls_key_file": "{file}"}, "cannot read"),
        ({"log_level": "verbose"}, "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ({"http_port": 70000}, "less than or equal to 65535"),
        ({"send_buffer_bytes": 0}, "greater than 0"),
        ({"drain_delay_seconds": 20}, "must not exceed grace_seconds"),
        ({"ops_port": 8080}, "ops_port must differ from http_port and grpc_port"),
        ({"ops_port": 9090, "grpc_port": 9090}, "ops_port must differ"),
        ({"allowed_origins": " , "}, "allowed_origins\n  Value error, names nothing"),
        ({"publish_tokens": ""}, "publish_tokens\n  Value error, names nothing"),
    ],
)
def test_bad_settings_fail_fast(overrides: dict[str, object], message: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    values = {k: str(v).replace("{file}", str(tmp_path / "file")) for k, v in overrides.items()}
    with pytest.raises(ValidationError) as failure:
        Settings(**values)  # type: ignore[arg-type]
    assert message in str(failure.value)


def test_log_level_is_an_enum_in_any_case() -> None:
    assert Settings(log_level="debug").log_level == "DEBUG"


def test_unknown_gateway_variables_are_named() -> None:
    environ = {"GATEWAY_LOG_LEVL": "debug", "GATEWAY_HTTP_PORT": "1", "GATEWAY_VENV": "/v"}
    assert unknown_environment({**environ, "HOME": "/root"}) == ["GATEWAY_LOG_LEVL"]


def test_metrics_on_a_public_port_are_flagged() -> None:
    assert not Settings().metrics_public  # loopback: nothing public
    assert Settings(http_host="0.0.0.0", insecure=True).metrics_public
    assert not Settings(http_host="0.0.0.0", insecure=True, ops_port=9090).metrics_public


def test_cli_refuses_insecure_bind_with_a_clear_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "--http-host", "0.0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "configuration error" in result.stderr and "GATEWAY_INSECURE=1" in result.stderr


def test_a_backend_list_is_shards_in_order_and_a_sentinel_url_stays_whole() -> None:
    from gateway.log.redis_url import backend_urls

    sentinel = "redis+sentinel://s1:26379,s2:26379/m/0"
    assert backend_urls("redis://a:1/0") == ["redis://a:1/0"]
    assert backend_urls(f"redis://a:1/0,{sentinel},rediss://c:2") == [
        "redis://a:1/0",
        sentinel,
        "rediss://c:2",
    ]
    assert Settings(backend=f"redis://a:1/0,{sentinel}").backend.startswith("redis://a")


def test_the_start_log_line_shows_no_password_of_any_shard() -> None:
    from gateway.app import _redacted

    assert _redacted("redis://u:pw@a:1/0,redis://:s3cret@b:2/0") == (
        "redis://u:***@a:1/0,redis://:***@b:2/0"
    )
    assert _redacted("redis+sentinel://:pw@s1:26379,s2:26379/m/0") == (
        "redis+sentinel://:***@s1:26379,s2:26379/m/0"
    )
    assert _redacted("redis+cluster://a:1,b:2") == "redis+cluster://a:1,b:2"
