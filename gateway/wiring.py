"""Settings → the collaborators that depend on which features are on: the history log
(memory or Redis), receipts, the type registry and the token verifier. Kept apart from
`app.py`'s wiring of the servers so each feature's choice reads in one place; each raises
`ConfigError` (or returns None when the feature is off) before anything binds.
"""

from __future__ import annotations

from typing import Any

from gateway.auth import TokenVerifier
from gateway.config import ConfigError, Settings
from gateway.jwks import JwksKeys
from gateway.log import MemoryLog, NotificationLog
from gateway.receipts.memory import MemoryReceiptStore
from gateway.receipts.store import ReceiptStore
from gateway.receipts.tracker import Receipts
from gateway.types import RegistryError, TypeRegistry, load_registry

__all__ = ["make_log", "make_receipts", "make_types", "make_verifier"]


def make_log(settings: Settings) -> NotificationLog:
    """The history log `settings.backend` names: in this process, or shared on Redis."""
    if settings.backend == "memory":
        return MemoryLog(
            settings.history_size, settings.history_seconds, settings.idempotency_seconds
        )
    from gateway.log.redis import RedisLog  # only a Redis deployment imports redis-py
    from gateway.log.redis_url import CLUSTER_SCHEME, backend_urls

    options: dict[str, Any] = {
        "prefix": settings.redis_prefix,
        "max_entries": settings.history_size,
        "max_age": settings.history_seconds,
        "idempotency_seconds": settings.idempotency_seconds,
    }
    urls = backend_urls(settings.backend)
    cluster = settings.backend.startswith(CLUSTER_SCHEME + "://")
    if len(urls) == 1 and not cluster:
        return RedisLog(settings.backend, **options)
    # a log sharded over several Redis stores, or over hash tags of a cluster (issue 15)
    from gateway.log.shards import ShardedLog

    if cluster:
        return ShardedLog.of_cluster(settings.backend, settings.redis_shards, **options)
    return ShardedLog.of_urls(urls, **options)


def make_receipts(settings: Settings, types: TypeRegistry | None = None) -> Receipts | None:
    """Receipts (issue 17), kept where the log is: in this process, or shared on Redis;
    `types` names the publish-to-ack histogram's type label (registered types only)."""
    if not settings.receipts:
        return None
    max_tracked, max_age = settings.receipts_max, settings.receipts_seconds
    max_counted, feed_size = settings.receipts_max_counted_users, settings.receipts_feed_size
    store: ReceiptStore
    if settings.backend == "memory":
        store = MemoryReceiptStore(max_tracked, max_age, max_counted, feed_size)
    else:
        from gateway.receipts.redis import RedisReceiptStore  # only with redis-py

        store = RedisReceiptStore(
            settings.backend,
            prefix=settings.redis_prefix,
            max_tracked=max_tracked,
            max_age=max_age,
            max_counted_users=max_counted,
            feed_size=feed_size,
        )
    return Receipts(store, max_age=settings.receipts_seconds, types=types)


def make_types(settings: Settings) -> TypeRegistry | None:
    """The type registry (issue 16) `settings.types` names, checked whole; `ConfigError`
    naming the file and JSON pointer when any of it cannot be used."""
    if settings.types is None:
        return None
    try:
        snapshot = load_registry(settings.types)
    except RegistryError as exc:
        raise ConfigError("types", str(exc)) from None
    return TypeRegistry(snapshot, settings.types_mode_in_force)


def make_verifier(settings: Settings) -> TokenVerifier | None:
    """The verifier the settings ask for (None without JWT); `ConfigError` for a bad key."""
    checks = {"audience": settings.jwt_audience, "issuer": settings.jwt_issuer}
    if settings.jwt_secret is not None:
        return TokenVerifier.from_secret(settings.jwt_secret.get_secret_value(), **checks)
    if settings.jwt_public_key_file is not None:
        return TokenVerifier.from_public_key_file(settings.jwt_public_key_file, **checks)
    if settings.jwt_jwks_url is not None:
        keys = JwksKeys(settings.jwt_jwks_url, settings.jwt_jwks_refresh_seconds)
        return TokenVerifier(keys, **checks)
    return None
