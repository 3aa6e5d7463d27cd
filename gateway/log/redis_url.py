"""The Redis backend's URL forms, checked without importing redis-py (config uses it).

- `redis://[[user]:password@]host[:port][/db]` and `rediss://…` (TLS): one Redis;
- `redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/<master name>[/db]`:
  the master that Sentinel names (port 26379 by default); the password is the master's;
- `redis+cluster://[[user]:password@]host:port[,host:port…]`: a Redis Cluster (its seed
  nodes), the log sharded over `redis_shards` hash tags;
- several of the first three, comma-separated (`redis://a:6379/0,redis://b:6379/0`): a log sharded
  over them (`gateway.log.shards`), in that order. A comma followed by a scheme starts the
  next URL, so a Sentinel URL's own host list stays whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

__all__ = [
    "CLUSTER_SCHEME",
    "ClusterUrl",
    "SentinelUrl",
    "backend_urls",
    "check_backend_url",
    "cluster_node_url",
    "parse_cluster_url",
    "parse_sentinel_url",
]

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
#: A comma that starts another URL (a scheme follows it).
_NEXT_URL = re.compile(r",(?=[A-Za-z][A-Za-z0-9+.-]*://)")


def backend_urls(backend: str) -> list[str]:
    """The Redis URLs of a backend setting: one, or one per shard, in order."""
    return _NEXT_URL.split(backend.strip())


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: list[tuple[str, int]]
    service: str
    db: int
    username: str | None
    password: str | None


def _hosts(url: str, scheme: str, what: str, default_port: str | None) -> _Hosts:
    """A URL that names several `host:port` in its netloc (Sentinel's sentinels, a
    Cluster's seeds), with its credentials; `ValueError` naming a bad address."""
    parts = urlsplit(url)
    if parts.scheme != scheme:
        raise ValueError(f"not a {scheme}:// URL")
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    addresses = []
    for item in hosts.split(","):
        if default_port is not None and ":" not in item:
            host, port = item, default_port
        else:
            host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"backend: bad {what} {item!r} (host:port)")
        addresses.append((host, int(port)))
    return _Hosts(addresses, parts.path, unquote(username) or None, unquote(password) or None)


@dataclass(frozen=True)
class _Hosts:
    addresses: list[tuple[str, int]]
    path: str
    username: str | None
    password: str | None


def parse_sentinel_url(url: str) -> SentinelUrl:
    """The parts of a `redis+sentinel://` URL; `ValueError` naming what is wrong."""
    given = _hosts(url, SENTINEL_SCHEME, "Sentinel address", "26379")
    path = [p for p in given.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError(
            "backend: name the Sentinel master: redis+sentinel://host:26379/mymaster/0"
        )
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError(f"backend: the Redis database must be a number (got {path[1]!r})")
    db = int(path[1]) if len(path) == 2 else 0
    return SentinelUrl(given.addresses, path[0], db, given.username, given.password)


@dataclass(frozen=True)
class ClusterUrl:
    nodes: list[tuple[str, int]]
    username: str | None
    password: str | None


def parse_cluster_url(url: str) -> ClusterUrl:
    """The seed nodes and credentials of a `redis+cluster://` URL; `ValueError` if bad."""
    given = _hosts(url, CLUSTER_SCHEME, "Redis Cluster node", None)
    if given.path.strip("/"):
        raise ValueError("backend: a Redis Cluster has no database number (drop the /db)")
    return ClusterUrl(given.addresses, given.username, given.password)


def cluster_node_url(url: str) -> str:
    """A plain `redis://` URL of a cluster URL's first seed node (with its credentials)."""
    credentials, _, hosts = urlsplit(url).netloc.rpartition("@")
    return f"redis://{credentials + '@' if credentials else ''}{hosts.split(',')[0]}/0"


def check_backend_url(backend: str) -> None:
    """`ValueError` with a clear message unless `backend` is a Redis URL of a supported
    form, or a list of them (shards) naming no store twice."""
    urls = backend_urls(backend)
    if urlsplit(urls[0]).scheme == CLUSTER_SCHEME:
        if len(urls) > 1:
            raise ValueError("backend: one redis+cluster:// URL (it shards by itself)")
        parse_cluster_url(urls[0])
        return
    for url in urls:
        _check_one(url)
    if len(set(urls)) < len(urls):
        raise ValueError("backend: a shard's Redis URL is listed twice")


def _check_one(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == SENTINEL_SCHEME:
        parse_sentinel_url(url)
        return
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(
            "backend must be 'memory' or a redis://, rediss://, redis+sentinel:// or "
            "redis+cluster:// URL"
        )
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise ValueError("backend: the Redis URL's port is not a number") from None
    if not parts.hostname:
        raise ValueError("backend: the Redis URL names no host (redis://host:6379/0)")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ValueError(f"backend: the Redis database must be a number (got {db!r})")
