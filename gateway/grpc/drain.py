"""Ending a drain's gRPC connections so that no call is answered `CANCELLED`.

gRPC's core kills every call that reaches the server once its shutdown has begun (it
"zombifies" it: the client sees `CANCELLED`), and a client keeps opening calls on its
connection until the GOAWAY that shutdown sends has reached it, one round trip and a
busy loop later. A stream of unary publishes therefore lost 1-3 calls per SIGTERM as
`CANCELLED`, which no client retries (issue 15, fault path 4).

So a drain first ends its clients' connections from our side, at the TCP level, and stops
the server right after, with nothing awaited in between. First the port's listening
socket stops taking connections: it is given a socket filter that drops every packet, so
a client's SYN goes unanswered, and its retry a second later finds the listener closed
by the stop (refused). (A `shutdown(2)` of the listener would refuse at once, but gRPC's
acceptor then logs a line of its own to stderr, which is not JSON.) Then every
connection it had accepted is shut down; grpc keeps and closes the descriptors. Without
the first step a client whose connection had just ended reconnected at once, in the
moment before the server's stop began, and its next call was still answered `CANCELLED`
(seen once in ~3,600 publishes under load). By then every accepted publish has finished
(the drain waited for them) and new calls have been answered `UNAVAILABLE` by the
service; a call still on the wire when the connection ends fails on the client as a
broken transport, and a reconnection is refused: `UNAVAILABLE` both, which every client
retries elsewhere (idempotently: each publish carries its id). With `--workers`, each
worker has a listening socket of its own on the port (SO_REUSEPORT), and the retry
reaches another.

Linux only (it finds the sockets in /proc/self/fd); elsewhere it does nothing and the
old race remains.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import struct

__all__ = ["end_connections"]

_FD_DIR = "/proc/self/fd"
_TCP = (socket.AF_INET, socket.AF_INET6)
#: linux/filter.h: BPF_RET | BPF_K, and the socket option that attaches a classic filter.
_BPF_RET_K = 0x06
_SO_ATTACH_FILTER = 26


def _drop_everything(sock: socket.socket) -> None:
    """Attach a classic BPF program of one instruction, `ret #0`, which drops every
    packet the socket is given: on a listener, the SYNs of new connections."""
    insn = ctypes.create_string_buffer(struct.pack("HBBI", _BPF_RET_K, 0, 0, 0))
    program = struct.pack("HP", 1, ctypes.addressof(insn))  # struct sock_fprog, native
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, program)


def end_connections(port: int) -> int:
    """Stop the listening socket on `port` from taking connections, then shut down (not
    close) every TCP connection it accepted; how many connections. This process's own
    client connections to the port (another local port) are left."""
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
        for sock in listeners:  # no new connection, then none of the old
            with contextlib.suppress(OSError):
                _drop_everything(sock)
        for sock in accepted:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
    finally:
        for sock in (*listeners, *accepted):
            sock.close()
    return len(accepted)
