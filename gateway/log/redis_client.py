"""How the Redis log connects: clients that fail fast instead of hanging a caller."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from gateway.log.redis_url import SENTINEL_SCHEME, parse_cluster_url, parse_sentinel_url

__all__ = ["CONNECTION_ERRORS", "connect", "connect_cluster", "connect_node"]

#: What a call on a broken connection raises: redis-py's errors, the socket's, and the
#: `RuntimeError` uvloop raises for a write to a transport it has already closed (from
#: inside redis-py, which lets it through), and a cluster's "slot not covered" (which is
#: not a `RedisError`). Every caller treats them alike: Redis is down.
CONNECTION_ERRORS = (RedisError, RedisClusterException, OSError, RuntimeError)


def connect(url: str, *, read_timeout: float, name: str, protocol: int | None = None) -> Redis:
    """A client for `url`: 1 s to connect, `read_timeout` per reply, and no retries inside
    redis-py (a retried call could hold a publisher for several timeouts; the caller's own
    retry with the same notification id is safe instead).

    A `redis+sentinel://` URL gives a client of the master Sentinel names: each new
    connection asks the sentinels where the master is, so after a failover the next call
    (or the follower's reconnect) reaches the new master.
    """
    options: dict[str, Any] = {
        "socket_connect_timeout": 1.0,
        "socket_timeout": read_timeout,
        "retry": Retry(NoBackoff(), 0),
        "client_name": name,
    }
    if protocol is not None:  # RESP2 or 3 (redis-py 8 speaks 3 by default)
        options["protocol"] = protocol
    if not url.startswith(SENTINEL_SCHEME + "://"):
        return Redis.from_url(url, **options)
    spec = parse_sentinel_url(url)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        spec.sentinels, sentinel_kwargs={"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
    )
    client: Redis = sentinel.master_for(
        spec.service, db=spec.db, username=spec.username, password=spec.password, **options
    )
    return client


def connect_cluster(url: str, *, read_timeout: float, name: str) -> RedisCluster:
    """A client of the Redis Cluster a `redis+cluster://` URL seeds: it follows MOVED and
    refreshes its slot map after a failed call, with one retry (a redirect after a
    failover), else the same timeouts as `connect`."""
    spec = parse_cluster_url(url)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in spec.nodes],
        username=spec.username,
        password=spec.password,
        socket_connect_timeout=1.0,
        socket_timeout=read_timeout,
        retry=Retry(NoBackoff(), 1),
        client_name=name,
    )


def connect_node(
    cluster: RedisCluster, host: str, port: int, *, read_timeout: float, name: str
) -> Redis:
    """A plain client of one node of `cluster` (RESP2), for the live feed's sharded
    pub/sub connection, with the cluster's credentials."""
    kwargs = cluster.get_connection_kwargs()
    return Redis(
        host=host,
        port=port,
        username=kwargs.get("username"),
        password=kwargs.get("password"),
        socket_connect_timeout=1.0,
        socket_timeout=read_timeout,
        retry=Retry(NoBackoff(), 0),
        client_name=name,
        protocol=2,
    )
