"""Settings: frozen, read from GATEWAY_* environment variables or `--flags`, checked at start.

Nothing is read at import time: `Settings()` reads the environment when it is built, and
`Settings(**flags)` lets command-line flags override it. Secrets print as '**********'.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]

Port = Annotated[int, Field(ge=0, le=65535)]
Positive = Annotated[int, Field(gt=0)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True, extra="forbid")

    http_host: str = "127.0.0.1"
    http_port: Port = 8080
    grpc_host: str = "127.0.0.1"
    grpc_port: Port = 50051
    #: "memory", or a redis:// URL shared by every replica.
    backend: str = "memory"

    jwt_secret: SecretStr | None = None
    jwt_public_key_file: Path | None = None
    #: With JWT on, refuse tokens without a `topics` claim (else they allow any topic).
    jwt_topics_required: bool = False
    #: Comma-separated bearer tokens gRPC publishers must send; unset = no check.
    publish_tokens: SecretStr | None = None
    #: Comma-separated browser Origins allowed to connect; unset = any.
    allowed_origins: str | None = None
    #: Explicitly allow binding a non-loopback address without a JWT key.
    insecure: bool = False
    grpc_tls_cert_file: Path | None = None
    grpc_tls_key_file: Path | None = None

    max_notification_bytes: Positive = 65_536
    send_buffer_bytes: Positive = 1_048_576
    max_client_frame_bytes: Positive = 4_096
    max_topics_per_connection: Positive = 64
    max_connections_per_user: Positive = 32
    max_connections: Positive = 100_000
    heartbeat_seconds: Annotated[float, Field(gt=0)] = 30.0
    history_size: Positive = 10_000
    history_seconds: Annotated[float, Field(gt=0)] = 3_600.0
    grace_seconds: Annotated[float, Field(ge=0)] = 10.0
    #: After SIGTERM, how long to keep listening while answering "not ready" before
    #: closing sockets, so load balancers stop routing here first (part of the grace).
    drain_delay_seconds: Annotated[float, Field(ge=0)] = 0.0
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.backend != "memory" and not self.backend.startswith(("redis://", "rediss://")):
            raise ValueError("backend must be 'memory' or a redis:// URL")
        if self.backend != "memory":  # checked here so a start fails with a message, not a trace
            raise ValueError("backend: redis:// is not available in this build yet; use 'memory'")
        if (self.grpc_tls_cert_file is None) != (self.grpc_tls_key_file is None):
            raise ValueError("grpc_tls_cert_file and grpc_tls_key_file go together")
        if self.drain_delay_seconds > self.grace_seconds:
            raise ValueError("drain_delay_seconds must not exceed grace_seconds")
        if self.jwt_secret is not None and self.jwt_public_key_file is not None:
            raise ValueError("set jwt_secret or jwt_public_key_file, not both")
        if self.jwt_topics_required and not self.auth_required:
            raise ValueError("jwt_topics_required needs a JWT key (jwt_secret or ...key_file)")
        exposed = [h for h in (self.http_host, self.grpc_host) if not _is_loopback(h)]
        if exposed and not self.auth_required and not self.insecure:
            raise ValueError(
                f"refusing to listen on {', '.join(exposed)} with no JWT key configured: "
                "anyone could read anyone's notifications. Set GATEWAY_JWT_SECRET or "
                "GATEWAY_JWT_PUBLIC_KEY_FILE, or GATEWAY_INSECURE=1 if this is intended"
            )
        return self

    @property
    def auth_required(self) -> bool:
        return self.jwt_secret is not None or self.jwt_public_key_file is not None

    @property
    def origins(self) -> frozenset[str] | None:
        return _split(self.allowed_origins)

    @property
    def publish_token_set(self) -> frozenset[str] | None:
        raw = self.publish_tokens.get_secret_value() if self.publish_tokens else None
        return _split(raw)


def _split(raw: str | None) -> frozenset[str] | None:
    if raw is None:
        return None
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
