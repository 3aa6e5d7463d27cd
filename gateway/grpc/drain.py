"""Ending a drain's gRPC connections so that no call is answered `CANCELLED`.

gRPC's core kills every call that reaches the server once its shutdown has begun (it
"zombifies" it: the client sees `CANCELLED`), and a client keeps opening calls on its
connection until the GOAWAY that shutdown sends has reached it, one round trip and a
busy loop later. A stream of unary publishes therefore lost 1-3 calls per SIGTERM as
`CANCELLED`, which no client retries (issue 15, fault path 4).

So a drain first ends its clients' connections from our side, at the TCP level
(`shutdown(2)` on the server's accepted sockets of the gRPC port; grpc keeps and closes the
descriptors), and stops the server right after, with nothing awaited in between. By
then every accepted publish has finished (the drain waited for them) and new calls have
been answered `UNAVAILABLE` by the service; a call still on the wire when the
connection ends fails on the client as a broken transport: `UNAVAILABLE` too, which
every client retries elsewhere (idempotently: each publish carries its id).

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
    """Shut down (not close) every accepted TCP connection whose local port is `port`;
    how many. Listening sockets and this process's own client connections are left."""
    if port == 0 or not os.path.isdir(_FD_DIR):
        return 0
    ended = 0
    for name in os.listdir(_FD_DIR):
        fd = int(name)
        with contextlib.suppress(OSError):
            if not os.readlink(f"{_FD_DIR}/{name}").startswith("socket:"):
                continue
            copy = socket.socket(fileno=os.dup(fd))
            with copy:
                if copy.family not in _TCP or copy.type != socket.SOCK_STREAM:
                    continue
                if copy.getsockname()[1] != port:
                    continue
                copy.getpeername()  # OSError for a listening socket: left alone
                copy.shutdown(socket.SHUT_RDWR)
                ended += 1
    return ended
