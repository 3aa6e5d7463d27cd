"""The live feed's one pub/sub connection: which server it goes to, the commands it speaks.

On one Redis (or the master Sentinel names) it is a connection of the feed's own client,
speaking SUBSCRIBE / UNSUBSCRIBE and receiving `message`s. On a Redis Cluster the log's
keys and channels share one hash tag, so one node owns them all: the append script
publishes with SPUBLISH there, and the link opens a plain connection to that node (found
through the cluster client's slot map, asked again at every reconnection, after a keyed
call that lets the cluster client follow a MOVED or notice a failed node), speaking
SSUBSCRIBE / SUNSUBSCRIBE and receiving `smessage`s. redis-py's cluster pub/sub object is
not used: the feed's barriers PING on the very connection its messages arrive on (RESP2,
read in order), which that object keeps to itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from gateway.log.base import BackendUnavailable
from gateway.log.redis_client import CONNECTION_ERRORS, connect, connect_node

__all__ = ["PubSubLink", "pong_token"]


class PubSubLink:
    __slots__ = ("_client", "_cluster", "_key", "_name", "_node", "_pings", "_timeout", "message")

    def __init__(
        self, url: str, name: str, read_timeout: float, *, cluster: RedisCluster | None, key: str
    ) -> None:
        """`cluster`: the log's cluster client (None: one Redis at `url`); `key`: one of
        the log's keys (the node owning its slot owns the log)."""
        self._cluster = cluster
        self._key = key
        self._name = name
        self._timeout = read_timeout
        self._node: tuple[str, int] | None = None
        self._client: Redis | None = None
        #: PINGs sent and not answered yet, by token.
        self._pings: dict[bytes, asyncio.Future[None]] = {}
        if cluster is None:  # RESP2: messages and PONGs are plain replies, read in order
            self._client = connect(url, read_timeout=read_timeout, name=name, protocol=2)
        #: The kind of a live message's reply.
        self.message = b"message" if cluster is None else b"smessage"

    @property
    def subscribe(self) -> str:
        return "SUBSCRIBE" if self._cluster is None else "SSUBSCRIBE"

    @property
    def unsubscribe(self) -> str:
        return "UNSUBSCRIBE" if self._cluster is None else "SUNSUBSCRIBE"

    async def open(self) -> Any:
        """A new connection (to the node that owns the log now, on a cluster)."""
        client, cluster = self._client, self._cluster
        if cluster is not None:
            await cluster.exists(self._key)  # follows a MOVED; a dead node: refreshed next
            node = cluster.get_node_from_key(self._key)
            if node is None:
                raise BackendUnavailable("no Redis Cluster node owns the log's slot")
            where = (node.host, int(node.port))
            if where != self._node or client is None:
                old, self._node = client, where
                client = self._client = connect_node(
                    cluster, *where, read_timeout=self._timeout, name=self._name
                )
                if old is not None:
                    await old.aclose()
        if client is None:
            raise BackendUnavailable("the live feed has no Redis client")
        return await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]

    async def release(self, conn: Any) -> None:
        """Drop `conn` (a new session opens another)."""
        with contextlib.suppress(Exception):
            await conn.disconnect()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.connection_pool.release(conn)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def ping(self, conn: Any, within: float) -> None:
        """PING on `conn` and wait (at most `within` seconds) for its PONG, which comes
        after every message Redis had queued for `conn` before it; `BackendUnavailable` if
        it does not."""
        token = os.urandom(8).hex().encode()
        pong = self._pings[token] = asyncio.get_running_loop().create_future()
        try:
            await self.send(conn, "PING", token)
            async with asyncio.timeout(within):
                await pong
        except TimeoutError:
            raise BackendUnavailable("Redis did not answer the live feed's PING") from None
        finally:
            self._pings.pop(token, None)

    def answered(self, reply: Any) -> bool:
        """Whether `reply` (not a message) answers a PING: its waiter is released."""
        token = pong_token(reply)
        if token is None:
            return False
        waiting = self._pings.get(token)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)
        return True

    def dropped(self) -> None:
        """The connection ended: every PING waiting fails."""
        for pong in self._pings.values():
            if not pong.done():
                pong.set_exception(BackendUnavailable("the live feed reconnects"))
        self._pings.clear()

    @staticmethod
    async def send(conn: Any, *args: Any) -> None:
        """One command on `conn`; `BackendUnavailable` if it is down (its reader
        reconnects, and subscribes again, on its own)."""
        if not conn.is_connected:
            raise BackendUnavailable("Redis is unreachable: the live feed is reconnecting")
        try:
            await conn.send_command(*args, check_health=False)
        except CONNECTION_ERRORS as exc:
            raise BackendUnavailable(f"Redis is unreachable: {exc}") from None


def pong_token(reply: Any) -> bytes | None:
    """The token of a PING's answer: `[pong, token]` while subscribed, else the token."""
    if type(reply) is list:
        return reply[1] if len(reply) == 2 and reply[0] == b"pong" else None
    return reply if isinstance(reply, bytes) else None
