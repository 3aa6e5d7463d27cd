"""A frame sent on a plain TCP socket's fd at once, when its transport holds nothing.

uvloop's `writelines` costs ~1.9k instructions per call (queuing the transport, then
`_exec_write` after the tick's callbacks): most of a broadcast's cost per subscriber
(callgrind, notes in docs/performance.md). When the transport has nothing buffered and is
not closing, a non-blocking `send()` of our own (`_speedups.send_frame`, C) puts the frame
in the kernel with nothing passed: the bytes are the ones uvloop would have sent next. What
the kernel does not take (a partial write, EAGAIN, any error) goes to `writelines`, so
uvloop's buffering, flow control and error/close handling stay in charge. Anything but
uvloop's plain `TCPTransport` (TLS, Unix sockets, asyncio's own loop, test fakes) and a
gateway without the compiled module (`GATEWAY_NO_SPEEDUPS=1`) write through `writelines`.
"""

from __future__ import annotations

from gateway.connection.transport import Sink
from gateway.speedups import speedups

__all__ = ["UNKNOWN_FD", "direct_fd", "send_frame"]

#: A connection's fd not looked up yet (`direct_fd` on its first direct write).
UNKNOWN_FD = -2

_UvTcp: type | None
try:
    import uvloop.loop

    _UvTcp = getattr(uvloop.loop, "TCPTransport", None)
except ImportError:  # pragma: no cover - uvloop is a dependency; without it nothing is direct
    _UvTcp = None


def _none(fd: int, data: bytes, /) -> int:  # never called: direct_fd is -1 without it
    return 0


send_frame = _none if speedups is None else speedups.send_frame


def direct_fd(sink: Sink) -> int:
    """The socket fd under `sink` when frames may be sent on it directly, else -1."""
    if speedups is None or _UvTcp is None or type(sink) is not _UvTcp:
        return -1
    sock = sink.get_extra_info("socket")  # type: ignore[attr-defined]
    try:
        fd = sock.fileno()
    except (AttributeError, OSError):
        return -1
    return fd if isinstance(fd, int) and fd >= 0 else -1
