"""The WebSocket edge: one pass down from request head to open connection, then its ops.

Connections arrive as `WebSocketProtocol`s (protocol.py), which own the bytes. For a
`/ws` head the edge reads the handshake once, admits it with the shared pure `admit`
(connection/admission.py), checks the upgrade itself, and then answers: a refusal with its
HTTP status, or a `Connection` whose first write carries the 101 response, the welcome and
any replay. Client ops go to the shared `ClientOps`; who is closed with which code is the
connection's own business (`Connection.close`).

Tokens: a browser offers `notifications.v1` plus `bearer.<jwt>` in `Sec-WebSocket-Protocol`
(it cannot set headers, and a URL lands in proxy logs); `Authorization: Bearer` and
`?token=` still work, in that order of precedence. The 101 selects `notifications.v1` and
never echoes the bearer entry. No token is ever logged or quoted back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.connection.admission import (
    AdmissionPolicy,
    Refusal,
    admit,
    read_handshake,
)
from gateway.connection.connection import Connection, ConnectionContext, connection_for
from gateway.connection.dispatch import ClientOps, error
from gateway.connection.emptied import Emptied
from gateway.connection.start import begin
from gateway.service import NotificationService
from gateway.websocket.handshake import BadHandshake, accept_key, switching_protocols
from gateway.websocket.head import Head
from gateway.websocket.protocol import PendingHeads, StreamEndpoint, WebSocketProtocol

__all__ = ["WebSocketEdge"]

log = logging.getLogger("gateway.ws")


class WebSocketEdge:
    """Admits `/ws` upgrades, starts their connections, hands their ops on, drains them."""

    def __init__(
        self,
        *,
        service: NotificationService,
        context: ConnectionContext,
        policy: AdmissionPolicy,
        ops: ClientOps,
        max_frame_bytes: int,
        heartbeat: float,
        max_pending_handshakes: int = 1024,
    ) -> None:
        self.service = service
        self.context = context
        self.policy = policy
        self.ops = ops
        self.max_frame_bytes = max_frame_bytes
        self.heartbeat = heartbeat
        self.max_pending_handshakes = max_pending_handshakes
        #: Every open connection of this edge (held ones too), for drain.
        self.connections: dict[Connection, None] = {}
        #: The connect tails (attach, replay, start) still running.
        self._starting: set[asyncio.Task[None]] = set()
        self._emptied = Emptied()
        #: One text message from a client (an op): `ops.received` itself, not a method
        #: that calls it (a Python frame fewer on every op, an ack most often).
        self.text: Callable[[Connection, str], None] = ops.received

    def protocol_factory(
        self, handoff: Callable[[], asyncio.Protocol], sse: StreamEndpoint | None = None
    ) -> Callable[[], WebSocketProtocol]:
        """What the HTTP listener makes for each connection; `handoff` makes aiohttp's, and
        `sse` (the SSE edge) takes `GET /sse` heads."""
        pending = PendingHeads(self.max_pending_handshakes, self.service.metrics)
        return lambda: WebSocketProtocol(self, handoff, self.max_frame_bytes, pending, sse)

    def open(self, protocol: WebSocketProtocol, head: Head) -> None:
        """Admit and upgrade a `/ws` request, or refuse it with an HTTP status and a reason.

        Admission comes first, so a plain GET learns what is wrong with its parameters.
        The 101 response, the welcome and any replay leave in one write.
        """
        handshake = read_handshake("/ws", head.query.decode("ascii"), head.headers)
        admitted = handshake if isinstance(handshake, Refusal) else admit(handshake, self.policy)
        if isinstance(admitted, Refusal):
            self._refuse(protocol, admitted)
            return
        try:
            accept = accept_key(head.headers)
        except BadHandshake as exc:
            self._refuse(protocol, Refusal(exc.status, exc.error, exc.message))
            return
        params = admitted.params
        conn = connection_for(params.user_id, params.topics, protocol, self.context, admitted.grant)
        protocol.accept(conn, switching_protocols(accept, admitted.subprotocol))
        self.connections[conn] = None
        self.service.metrics.connections_opened += 1
        if admitted.expiry is not None:
            conn.expire_at(admitted.expiry, admitted.grant)
        # on the memory log this runs to the end here: the 101 and the welcome are queued
        # before any frame that came with the head is read
        begin(self.service, conn, admitted.since, self.heartbeat, self._starting)

    def _refuse(self, protocol: WebSocketProtocol, refusal: Refusal) -> None:
        self.service.metrics.refused(refusal.status)
        protocol.refuse(refusal.status, refusal.body())

    def binary(self, conn: Connection) -> None:
        if conn.closed:
            return
        conn.send(error("bad_frame", "binary frames are not supported", "frame"))
        conn.bad_frame()

    def release(self, conn: Connection) -> None:
        """The connection has ended: forgotten (it left the hub itself)."""
        self.connections.pop(conn, None)
        self._emptied.released(len(self.connections))

    async def close_all(self, code: int, reason: str, within: float) -> None:
        """Close every connection; wait up to `within` seconds for the close handshakes.

        Connections whose client has not answered by then are dropped.
        """
        self.context.scheduler.flush()
        for conn in list(self.connections):
            conn.close(code, reason)
        await self._emptied.wait(len(self.connections), within)
        for conn in list(self.connections):
            conn.transport.abort()
