"""Ending a drain's gRPC connections so that no call is answered `CANCELLED`.

gRPC's core kills every call that reaches the server once its shutdown has begun (it
"zombifies" it: the client sees `CANCELLED`), and a client keeps opening calls on its
connection until the GOAWAY that shutdown sends has reached it, one round trip and a
busy loop later. A stream of unary publishes therefore lost 1-3 calls per SIGTERM as
`CANCELLED`, which no client retries (issue 15, fault path 4).

So a drain first ends its clients' connections from our side, at the TCP level, and stops
the server right after, with nothing awaited in between. First the port's listening
socket is shut down (`shutdown(2)`: the kernel refuses new connections from then on, and
grpc's acceptor stops with one line of its own, "Closing acceptor. Failed accept4"), then
every connection it had accepted; grpc keeps and closes the descriptors. Without the
first step a client whose connection had just ended reconnected at once, in the moment
before the server's stop began, and its next call was still answered `CANCELLED` (seen
once in ~3,600 publishes under load). By then every accepted publish has finished (the
drain waited for them) and new calls have been answered `UNAVAILABLE` by the service; a
call still on the wire when the connection ends fails on the client as a broken
transport, and a new connection is refused: `UNAVAILABLE` both, which every client
retries elsewhere (idempotently: each publish carries its id). With `--workers`, each
worker has a listening socket of its own on the port (SO_REUSEPORT): the kernel hands
new connections to the others.

Linux only (it finds the sockets in /proc/self/fd); elsewhere it does nothing and the
old race remains.
"""

from __future__ import annotations

import contextlib
import os
import socket

__all__ = ["end_connections"]

_FD_DIR = "/proc/self/fd"
_TCP = (socket.AF_INET, socket.AF_INET6)


def end_connections(port: int) -> int:
    """Shut down (not close) the listening socket on `port`, then every TCP connection
    it accepted; how many connections. This process's own client connections to the
    port (other local port) are left."""
    if port == 0 or not os.path.isdir(_FD_DIR):
        return 0
    listeners: list[socket.socket] = []
    accepted: list[socket.socket] = []
    try:
        for name in os.listdir(_FD_DIR):
            with contextlib.suppress(OSError):
                if not os.readlink(f"{_FD_DIR}/{name}").startswith("socket:"):
                    continue
                copy = socket.socket(fileno=os.dup(int(name)))
                if (
                    copy.family not in _TCP
                    or copy.type != socket.SOCK_STREAM
                    or copy.getsockname()[1] != port
                ):
                    copy.close()
                    continue
                try:
                    copy.getpeername()
                except OSError:  # not connected: the listener
                    listeners.append(copy)
                else:
                    accepted.append(copy)
        for sock in (*listeners, *accepted):  # no new connection, then none of the old
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
    finally:
        for sock in (*listeners, *accepted):
            sock.close()
    return len(accepted)
