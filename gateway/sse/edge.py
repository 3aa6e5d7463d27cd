"""The SSE edge: `GET /sse` admitted like `/ws`, streams by id, ops posted for a stream, drain.

The connect path is the WebSocket one (connection/admission.py): the same query (`user_id`,
`topics`, `since`), the same Origin check, token, topic grant, per-user cap and limits, and
the same refusals (an HTTP status and a JSON reason, before any stream opens). `since` wins
over `Last-Event-ID`, which an `EventSource` sends on its own when it reconnects.

Tokens: `EventSource` cannot set headers, so besides `Authorization: Bearer` (fetch-based
clients) a stream takes the `gateway_token` cookie (same-site deployments: nothing in a URL)
or `?token=` (cross-site: the token is then in the URL, where access logs may keep it; use
short-lived tokens). See docs/protocol/sse.md.

CORS: with an Origin allow-list, an allowed Origin is echoed with credentials (so a cookie
may be sent); without one, any page may read a stream it opens with `?token=` or no token
(`Access-Control-Allow-Origin: *`, never with credentials: a cookie is not sent then, so
no other site can read a user's stream with the user's cookie).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING

from gateway.connection.admission import AdmissionPolicy, Refusal, admit, read_handshake
from gateway.connection.connection import Connection, ConnectionContext, connection_for
from gateway.connection.dispatch import ClientOps
from gateway.connection.emptied import Emptied
from gateway.connection.start import begin
from gateway.service import NotificationService
from gateway.sse.stream import SseStream, response_head

if TYPE_CHECKING:
    from gateway.websocket.head import Head
    from gateway.websocket.protocol import WebSocketProtocol

__all__ = ["SseEdge", "cors_headers", "refusal_cors"]


def cors_headers(origin: str | None, allowed: frozenset[str] | None) -> dict[str, str]:
    """The CORS response headers for a request from `origin` (already admitted)."""
    if allowed is None:
        return {"Access-Control-Allow-Origin": "*"}
    if origin is None:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def refusal_cors(origin: str | None, allowed: frozenset[str] | None) -> dict[str, str]:
    """The CORS headers of a refused `/sse` (not admitted, so its Origin is checked here):
    a fetch-based client on an allowed page then reads why (a 401 to refresh its token, a
    400 naming the field) instead of a bare network error. An Origin off the allow-list
    is told nothing more than before."""
    if allowed is not None and origin not in allowed:
        return {"Vary": "Origin"} if origin is not None else {}
    return cors_headers(origin, allowed)


class SseEdge:
    """Admits `GET /sse`, starts its streams, applies their posted ops, drains them."""

    def __init__(
        self,
        *,
        service: NotificationService,
        context: ConnectionContext,
        policy: AdmissionPolicy,
        ops: ClientOps,
        heartbeat: float,
    ) -> None:
        self.service = service
        self.context = context
        self.policy = policy
        self.ops = ops
        self.heartbeat = heartbeat
        #: Every open stream by its id (held ones too): for the ops endpoint and drain.
        self.streams: dict[str, SseStream] = {}
        self._starting: set[asyncio.Task[None]] = set()
        self._emptied = Emptied()

    def open(self, protocol: WebSocketProtocol, head: Head) -> None:
        """Admit a `GET /sse` and take its TCP connection over, or refuse it."""
        handshake = read_handshake("/sse", head.query.decode("ascii"), head.headers)
        admitted = handshake if isinstance(handshake, Refusal) else admit(handshake, self.policy)
        if isinstance(admitted, Refusal):
            self.service.metrics.refused(admitted.status)
            cors = refusal_cors(head.headers.get("origin"), self.policy.allowed_origins)
            protocol.refuse(admitted.status, admitted.body(), websocket=False, headers=cors)
            return
        stream_id = secrets.token_urlsafe(16)
        cors = cors_headers(head.headers.get("origin"), self.policy.allowed_origins)
        stream = SseStream(self, stream_id, response_head(cors))
        protocol.hand_to(stream)
        params = admitted.params
        conn = connection_for(params.user_id, params.topics, stream, self.context, admitted.grant)
        stream.attach(conn)
        self.streams[stream_id] = stream
        self.service.metrics.connections_opened += 1
        self.service.metrics.sse_streams_opened += 1
        if admitted.expiry is not None:
            conn.expire_at(admitted.expiry, admitted.grant)
        begin(self.service, conn, admitted.since, self.heartbeat, self._starting, stream_id)

    def connection(self, stream_id: str) -> Connection | None:
        """The open connection a stream id names, if any."""
        stream = self.streams.get(stream_id)
        return None if stream is None else stream.conn

    def release(self, stream: SseStream) -> None:
        """The stream has ended: forgotten (its connection left the hub itself)."""
        self.streams.pop(stream.id, None)
        self._emptied.released(len(self.streams))

    async def close_all(self, code: int, reason: str, within: float) -> None:
        """End every stream with a final `close` event; drop those not gone `within` s."""
        self.context.scheduler.flush()
        for stream in list(self.streams.values()):
            if stream.conn is not None:
                stream.conn.close(code, reason)
        await self._emptied.wait(len(self.streams), within)
        for stream in list(self.streams.values()):
            stream.abort()
