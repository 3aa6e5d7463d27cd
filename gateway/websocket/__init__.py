"""The browsers' edge: WebSocket on the public HTTP port.

- `protocol`: the asyncio protocol that owns each TCP connection's bytes (head, hand-off) and,
  once upgraded, is its connection's `Transport`;
- `machine`: the close handshake and ping/pong, sans-I/O (a frame reader with a state);
- `head`: every request head, read with llhttp (httptools) within its limits;
- `handshake`, `frames`: the upgrade request and the client frames, sans-I/O;
- `edge`: the connect path one pass down (read, admit, upgrade, start) and client frames to
  the shared `ClientOps`;
- `fallback`: what aiohttp answers for the requests the protocol hands over, and how it logs.

What a client is (its state, its ops, its admission) lives in `gateway/connection/`.
"""
