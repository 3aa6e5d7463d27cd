"""One connected client, whatever its transport, and the connect path they share.

- `connection`: `Connection`, the one object per client (identity, topics, grant, expiry,
  outgoing buffer, liveness, bad frames);
- `outbox`: `Outbox`, its base class: the outgoing buffer (queue, flush, replay, the
  slow-reader rule), and the `ConnectionContext` every connection shares;
- `acks`: `AckWindow`, Outbox's base: what a connection's receipts acks may cover;
- `transport`: the small adapter interface each transport (WebSocket, SSE) implements;
- `outgoing`: `Outgoing`, an event made once and framed once per transport kind;
- `admission`: the typed `Handshake` read once and the pure `admit` (shared by /ws and /sse);
- `ops`, `dispatch`: the connect params and client ops, and `ClientOps` that applies them;
- `heartbeat`: one loop-wide liveness sweep over every connection.

Core, like the hub and the service: the edges import this, never the reverse.
"""

from gateway.connection.connection import Connection, ConnectionContext
from gateway.connection.outgoing import PING, Outgoing, TransportKind
from gateway.connection.transport import Transport

__all__ = ["PING", "Connection", "ConnectionContext", "Outgoing", "Transport", "TransportKind"]
