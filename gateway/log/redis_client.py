"""How the Redis log connects: clients that fail fast instead of hanging a caller."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["connect"]


def connect(url: str, *, read_timeout: float, name: str) -> Redis:
    """A client for `url`: 1 s to connect, `read_timeout` per reply, and no retries inside
    redis-py (a retried call could hold a publisher for several timeouts; the caller's own
    retry with the same notification id is safe instead)."""
    return Redis.from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=read_timeout,
        retry=Retry(NoBackoff(), 0),
        client_name=name,
    )
