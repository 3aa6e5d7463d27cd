"""The browsers' edge: WebSocket on the public HTTP port.

- `protocol`: the asyncio protocol that owns each TCP connection's bytes (head, frames, close);
- `head`: every request head, read with llhttp (httptools) within its limits;
- `handshake`, `frames`: the upgrade request and the client frames, sans-I/O;
- `policy`: admission, register and replay, client ops, who is closed with which code;
- `client_ops`: the connect query and client ops as pydantic models;
- `heartbeat`: one loop-wide ping sweep;
- `fallback`: what aiohttp answers for the requests the protocol hands over, and how it logs.
"""
