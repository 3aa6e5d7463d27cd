"""Settings: frozen, read from GATEWAY_* environment variables or `--flags`, checked at start.

Nothing is read at import time: `Settings()` reads the environment when it is built, and
`Settings(**flags)` lets command-line flags override it. Secrets print as '**********'.
What a value alone can tell is checked here (ranges, enums, files that must be readable);
what only starting can tell (a port in use, a key that does not parse) raises `ConfigError`
at start. Both end the command line with `configuration error: <field>: <rule>`, exit 2.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, Self, get_args
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.log.redis_url import CLUSTER_SCHEME, backend_urls, check_backend_url

__all__ = ["ConfigError", "Settings", "unknown_environment"]

#: GATEWAY_* variables that are not settings but are read elsewhere (scripts/_venv.sh).
_NOT_SETTINGS = frozenset({"GATEWAY_VENV"})

#: RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_HS256_SECRET_BYTES = 32


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
_LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)


def _log_level(value: object) -> object:
    if isinstance(value, str) and value.upper() in _LOG_LEVELS:
        return value.upper()
    raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)} (any case)")


class ConfigError(Exception):
    """A setting that passed its own checks but cannot work here (port taken, bad key)."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


def _readable_file(path: Path | None) -> Path | None:
    """A configured file must exist and be readable now, not at the first connect."""
    if path is None:
        return None
    try:
        with path.open("rb") as file:
            file.read(1)
    except OSError as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    return path


Port = Annotated[int, Field(ge=0, le=65535)]
NonEmpty = Annotated[str, Field(min_length=1)]
Positive = Annotated[int, Field(gt=0)]


class Settings(BaseSettings):
    # Each setting's docstring (the string under it) is its description: pydantic reads it
    # (use_attribute_docstrings) and the docs' configuration reference is generated from it,
    # so a setting without one fails the docs build.
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", frozen=True, extra="forbid", use_attribute_docstrings=True
    )

    http_host: str = "127.0.0.1"
    """Address of the public HTTP port: WebSocket, `/healthz`, `/readyz`, and `/metrics`
    unless the ops port is set."""
    http_port: Port = 8080
    """The public HTTP port."""
    grpc_host: str = "127.0.0.1"
    """Address of the gRPC port: the Publish API, gRPC health and server reflection."""
    grpc_port: Port = 50051
    """The gRPC port."""
    # The host defaults to loopback so metrics are never public by accident.
    ops_host: str = "127.0.0.1"
    """Address of the internal ops port (loopback unless set)."""
    ops_port: Port | None = None
    """The internal ops port: when set, `/metrics` is served there and no longer on the
    HTTP port (`/healthz` and `/readyz` answer on both). Unset: `/metrics` stays on the
    public HTTP port."""
    backend: str = "memory"
    """The history log: `memory` (this process), or `redis://[:password@]host:port/db`,
    `rediss://…` (TLS) or `redis+sentinel://[:password@]host:26379[,host:26379]/<master>/db`,
    shared by every replica; or several of these, comma-separated, for a log sharded over
    them (users by hash, in list order: every replica must list the same URLs in the same
    order); or `redis+cluster://[:password@]host:port[,host:port]`, a Redis Cluster (its
    seed nodes), the log sharded over `redis_shards` hash tags."""
    redis_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:{}-]{1,64}$")] = "gateway"
    """Prefix of every Redis key and channel, so several gateways can share one Redis."""
    # a log sharded over a Redis Cluster (issue 15)
    redis_shards: Annotated[int, Field(ge=1, le=1024)] = 3
    """With a `redis+cluster://` backend: how many shards the log spans, each under its own
    hash tag (`{<prefix>-<n>}:log`, ...), so each lives on the node owning its slot. At
    least the number of masters; every replica must use the same count (a change moves
    users to other shards: their cursors answer `complete: false` once)."""
    idempotency_seconds: Annotated[float, Field(ge=1)] = 300.0
    """How long a notification `id` is remembered (on every replica): a repeat is answered
    with the first cursor, the same id for another target or content is refused with
    `ALREADY_EXISTS`."""

    # JWT keys for browsers' tokens: one of secret, public key file or JWKS URL; each is
    # checked at start. Audience and issuer checks are optional and apply to all three.
    jwt_secret: SecretStr | None = None
    """HS256 key, at least 32 bytes (RFC 7518 §3.2). When it (or one of the other two JWT
    keys) is set, every WebSocket needs a valid token with `exp` whose `sub` is its
    `user_id`."""
    jwt_public_key_file: Path | None = None
    """PEM public key (`BEGIN PUBLIC KEY`): RSA ≥ 2048 bits (RS256/384/512), EC
    P-256/384/521 (ES256/384/512) or Ed25519 (EdDSA)."""
    jwt_jwks_url: str | None = None
    """An identity provider's JSON Web Key Set (an http(s) URL with a host), fetched at
    start and every refresh interval; tokens name their key with `kid`."""
    jwt_jwks_refresh_seconds: Annotated[float, Field(gt=0)] = 300.0
    """How often the JWKS is fetched again."""
    # Empty is refused: `GATEWAY_JWT_AUDIENCE=` in a template would start fine, then
    # refuse every token (none carries an empty `aud`).
    jwt_audience: NonEmpty | None = None
    """When set, a token's `aud` must contain it (set but empty is a configuration error)."""
    jwt_issuer: NonEmpty | None = None
    """When set, a token's `iss` must equal it (set but empty is a configuration error)."""
    jwt_topics_required: bool = False
    """With JWT on, refuse tokens without a `topics` claim (otherwise they allow any
    topic)."""
    publish_tokens: SecretStr | None = None
    """Comma-separated bearer tokens: gRPC callers must send `authorization: Bearer <one of
    them>` (health checks exempt). Unset: no check; set but naming none is refused."""
    allowed_origins: str | None = None
    """Comma-separated browser Origins allowed to connect, e.g. `https://app.example.com`.
    Unset: any; set but naming none is refused."""
    insecure: bool = False
    """Allow a non-loopback bind without a JWT key (otherwise refused at start)."""
    grpc_tls_cert_file: Path | None = None
    """Certificate chain (PEM) to serve gRPC over TLS, for deployments without a mesh;
    goes with the key file."""
    grpc_tls_key_file: Path | None = None
    """Private key (PEM) of the gRPC TLS certificate."""

    max_notification_bytes: Positive = 65_536
    """Encoded size limit of one notification."""
    send_buffer_bytes: Positive = 1_048_576
    """Unsent bytes per connection before it is closed with 4008 (too slow)."""
    max_client_frame_bytes: Positive = 16_384
    """Largest client message (close 1009 beyond). A `refresh` op carries a whole JWT, so it
    matches the 16 KiB a connect's head (and token) may take. Only a message still arriving
    is held, so an idle connection pays nothing for it."""
    max_topics_per_connection: Positive = 64
    """Topics one connection may follow (beyond it: HTTP 400 at connect, or the
    `too_many_topics` error event)."""
    max_connections_per_user: Positive = 32
    """Open connections per user (beyond it: HTTP 429)."""
    max_connections: Positive = 100_000
    """Open connections per process (beyond it: HTTP 503)."""
    max_pending_handshakes: Positive = 1024
    """Connections that may be sending their request head at once; past it the oldest is
    answered 503 and closed (slowloris). Keep it well below the open-files limit."""
    heartbeat_seconds: Annotated[float, Field(gt=0)] = 30.0
    """Server ping interval; a peer silent for two intervals is dropped."""
    coalesce_ms: Annotated[float, Field(ge=0, le=50)] = 5.0
    """How long a flush may wait for more publishes while they stream in (see
    `gateway/flush.py`); 0 writes at the end of every loop tick."""
    history_size: Positive = 10_000
    """Entries the replay log keeps (on Redis: approximate, and never below 4000)."""
    history_seconds: Annotated[float, Field(gt=0)] = 3_600.0
    """Seconds the replay log keeps an entry (on Redis: approximate)."""
    grace_seconds: Annotated[float, Field(ge=0)] = 10.0
    """The whole drain on SIGTERM/SIGINT must fit in it."""
    drain_delay_seconds: Annotated[float, Field(ge=0)] = 0.0
    """Part of the grace spent answering "not ready" before sockets close, so load balancers
    stop routing here first."""
    log_level: Annotated[LogLevel, BeforeValidator(_log_level)] = "INFO"
    """How much the JSON log lines on stderr say (any case)."""
    demo: bool = False
    """Serve the demo page at `GET /demo` (the JS client at `/client.js` is always
    served)."""

    # --- Server-Sent Events (issue 18) ---
    sse: bool = True
    """Serve `GET /sse` (an event stream with the WebSocket's events, cursors and close
    codes, for networks that do not pass a WebSocket upgrade) and `POST /sse/ops` (its
    client's ops) on the public HTTP port."""

    # --- receipts (issue 17) ---
    receipts: bool = False
    """Delivery receipts: clients' `ack` and `read` ops are applied, publishers may set
    `receipt_deadline` and call `GetReceipts` / `WatchReceipts`. Off: none of it is paid
    for, and a publish with `receipt_deadline` is refused."""
    receipts_max: Positive = 100_000
    """How many notifications' receipts are kept; past it the oldest are forgotten and
    answer `unknown`."""
    receipts_seconds: Annotated[float, Field(gt=0)] = 86_400.0
    """How long a notification's receipts are kept (then `unknown`), and so the longest
    `receipt_deadline` accepted."""
    receipts_max_counted_users: Positive = 10_000
    """Distinct acking (and reading) users counted per topic or everyone notification;
    past it the counts say `capped` ("at least")."""
    receipts_feed_size: Positive = 100_000
    """Receipt updates the `WatchReceipts` feed keeps for watchers that resume with
    `since`."""

    # The type registry (issue 16, gateway/types): a JSON Schema per notification type.
    types: Path | None = None
    """A directory of `*.json` / `*.yaml` registry files, one notification type (or a list)
    per file, each with the JSON Schema of its `data` (see Concepts → Typed notifications).
    Checked whole at start (a problem stops it, naming the file and JSON pointer) and
    reloaded on SIGHUP and when its files change."""
    types_mode: Literal["off", "registered", "strict"] | None = None
    """`off`: no check; `registered`: registered types are checked, others pass (and are
    counted); `strict`: a type that is not registered is refused. Unset: `registered` with
    a registry, `off` without."""
    types_allow_breaking: bool = False
    """Let a reload replace the registry with one that breaks compatibility (`types diff`
    lists what breaks); otherwise such a reload is refused and the old registry stays."""
    types_watch_seconds: Annotated[float, Field(ge=0)] = 2.0
    """How often the registry directory is checked for changed files (a ConfigMap update
    swaps a symlink); 0: only SIGHUP reloads."""

    # Several processes per host (issue 15, gateway/workers.py).
    workers: Annotated[int, Field(ge=1, le=256)] = 1
    """How many gateway processes serve this host's ports together (SO_REUSEPORT: the kernel
    spreads connections over them), so one host uses all its cores. Above 1 it needs a
    shared backend (Redis): each worker is a replica of its own. Ctrl-C and SIGTERM drain
    every worker."""

    @field_validator("workers")
    @classmethod
    def _workers_share_a_backend(cls, workers: int, info: ValidationInfo) -> int:
        if workers > 1 and info.data.get("backend", "memory") == "memory":
            raise ValueError(
                "more than one worker needs a shared backend (GATEWAY_BACKEND=redis://...): "
                "with the memory backend each worker would keep its own history and "
                "clients, and a publish to one would never reach the others' clients"
            )
        if workers > 1 and 0 in (info.data.get("http_port"), info.data.get("grpc_port")):
            raise ValueError("more than one worker needs fixed ports (http_port, grpc_port)")
        return workers

    @field_validator("jwt_public_key_file", "grpc_tls_cert_file", "grpc_tls_key_file")
    @classmethod
    def _file_readable(cls, path: Path | None) -> Path | None:
        return _readable_file(path)

    @field_validator("jwt_secret")
    @classmethod
    def _secret_long_enough(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None:
            size = len(secret.get_secret_value().encode())
            if size < MIN_HS256_SECRET_BYTES:
                raise ValueError(
                    f"an HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes "
                    f"(RFC 7518 section 3.2); this one has {size}"
                )
        return secret

    @field_validator("allowed_origins", "publish_tokens")
    @classmethod
    def _not_an_empty_list(cls, value: str | SecretStr | None) -> str | SecretStr | None:
        # Set but naming nothing would refuse every browser (or every publisher) while
        # looking configured: say so at start instead.
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is not None and _split(raw) == frozenset():
            raise ValueError("names nothing: give comma-separated values, or leave it unset")
        return value

    @field_validator("jwt_jwks_url")
    @classmethod
    def _jwks_url(cls, url: str | None) -> str | None:
        if url is not None and not _is_http_url(url):
            raise ValueError("must be an http:// or https:// URL with a host")
        return url

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.backend != "memory":
            check_backend_url(self.backend)
            sharded = len(backend_urls(self.backend)) > 1 or self.backend.startswith(
                CLUSTER_SCHEME + "://"
            )
            if self.backend.startswith(CLUSTER_SCHEME + "://") and (
                "{" in self.redis_prefix or "}" in self.redis_prefix
            ):
                raise ValueError(
                    "redis_prefix: on a Redis Cluster the gateway makes its own hash tags "
                    "({<prefix>-<n>}); give the prefix without braces"
                )
            if self.receipts and sharded:  # shards (issue 15)
                raise ValueError(
                    "receipts need one Redis: a sharded backend (a list of URLs, or a "
                    "Redis Cluster) does not keep them yet"
                )
        if (self.grpc_tls_cert_file is None) != (self.grpc_tls_key_file is None):
            raise ValueError("grpc_tls_cert_file and grpc_tls_key_file go together")
        if self.ops_port and self.ops_port in (self.http_port, self.grpc_port):
            raise ValueError("ops_port must differ from http_port and grpc_port")
        if self.types_mode not in (None, "off") and self.types is None:
            raise ValueError(f"types_mode={self.types_mode} needs a registry: set types")
        if self.drain_delay_seconds > self.grace_seconds:
            raise ValueError("drain_delay_seconds must not exceed grace_seconds")
        if sum(key is not None for key in self._jwt_keys) > 1:
            raise ValueError("set only one of jwt_secret, jwt_public_key_file, jwt_jwks_url")
        if (self.jwt_audience or self.jwt_issuer) and not self.auth_required:
            raise ValueError("jwt_audience and jwt_issuer need a JWT key to check tokens with")
        if self.jwt_topics_required and not self.auth_required:
            raise ValueError("jwt_topics_required needs a JWT key to check tokens with")
        exposed = [h for h in (self.http_host, self.grpc_host) if not _is_loopback(h)]
        if exposed and not self.auth_required and not self.insecure:
            raise ValueError(
                f"refusing to listen on {', '.join(exposed)} with no JWT key configured: "
                "anyone could read anyone's notifications. Set GATEWAY_JWT_SECRET, "
                "GATEWAY_JWT_PUBLIC_KEY_FILE or GATEWAY_JWT_JWKS_URL, or GATEWAY_INSECURE=1 "
                "if this is intended"
            )
        return self

    @property
    def _jwt_keys(self) -> tuple[object, ...]:
        """The three ways to give token keys; at most one is set."""
        return (self.jwt_secret, self.jwt_public_key_file, self.jwt_jwks_url)

    @property
    def auth_required(self) -> bool:
        return any(key is not None for key in self._jwt_keys)

    @property
    def metrics_public(self) -> bool:
        """Whether /metrics would be served on a non-loopback public port."""
        return self.ops_port is None and not _is_loopback(self.http_host)

    @property
    def origins(self) -> frozenset[str] | None:
        return _split(self.allowed_origins)

    @property
    def types_mode_in_force(self) -> Literal["off", "registered", "strict"]:
        """The registry's mode: as set, else `registered` with a registry, `off` without."""
        if self.types_mode is not None:
            return self.types_mode
        return "off" if self.types is None else "registered"

    @property
    def publish_token_set(self) -> frozenset[str] | None:
        raw = self.publish_tokens.get_secret_value() if self.publish_tokens else None
        return _split(raw)


def unknown_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """GATEWAY_* variables that name no setting: a typo would otherwise go unnoticed."""
    environ = os.environ if environ is None else environ
    known = {"GATEWAY_" + name.upper() for name in Settings.model_fields} | _NOT_SETTINGS
    return sorted(n for n in environ if n.upper().startswith("GATEWAY_") and n.upper() not in known)


def _is_http_url(url: str) -> bool:
    """An http(s) URL with a host and, if any, a numeric port: what PyJWKClient can fetch
    (it raises on a broken authority such as "http://[::1" when it is built)."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port >= 0  # .port raises on "host:abc"
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and port_ok


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
