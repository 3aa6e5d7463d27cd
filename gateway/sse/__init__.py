"""The second browsers' edge: Server-Sent Events on the public HTTP port.

- `stream`: one `GET /sse` response as the connection's `Transport` (an asyncio protocol the
  HTTP port's connection is handed to once admitted);
- `edge`: the connect path (the same `read_handshake` and `admit` as `/ws`), the streams by
  id, drain;
- `routes`: `POST /sse/ops`, where a stream's client sends the ops a WebSocket client would
  send as text frames.
"""
