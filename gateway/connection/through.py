"""A fan-out written as it goes: `write_each`, for a publish the scheduler lets write through.

Apart from outbox.py (the queue-and-flush side) because it has a compiled twin: the loop
below is the reference and the fallback (`GATEWAY_NO_SPEEDUPS=1`), and
`_speedups.write_each` (gateway/csrc/fanout.c) applies the same rules in C, reading the
Outbox's slots at their offsets (resolved once, by `configure_write_each`) and calling the
sink's methods found once per type. A broadcast to 1,000 live connections cost 2.41M
instructions in this loop (with the C `send_frame`), 0.59M in C (callgrind,
`scripts/profile-steady`); tests/unit/test_speedups_fanout.py holds the two to the same
effects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.connection.direct import UNKNOWN_FD, direct_fd, send_frame
from gateway.connection.outbox import Outbox
from gateway.connection.outgoing import Outgoing
from gateway.speedups import speedups

__all__ = ["write_each", "write_each_py"]


def write_each_py(conns: Iterable[Outbox], item: Outgoing) -> None:
    """`send_each`, written as it goes: what a flush pass right after it would write.

    For a fan-out the scheduler lets write through (`FlushScheduler.write_through`: one
    publish, nothing else waiting to be flushed). A live WebSocket connection with nothing
    queued and its response head out gets its frame written to its byte stream at once,
    under the flush's rules (a closing stream is dropped; one holding more than `limit`
    unsent bytes is too slow and closed with 4008). Any other connection is sent the item
    as `send_each` does (queued behind what it holds, flushed at the tick's end), so no
    frame passes another. uvloop sends the tick's writes after its callbacks either way.
    """
    ws = item.ws
    size = len(ws)
    slow: list[Outbox] = []
    for conn in conns:
        if (
            conn._ws
            and conn._backlog is None
            and not conn.held
            and not conn.closed
            and not conn._pending
            and (sink := conn._sink) is not None
        ):
            if sink.is_closing():
                conn._discard()
                continue
            buffered = sink.get_write_buffer_size()
            if buffered > conn._context.limit:
                slow.append(conn)  # closed below: closing takes it out of `conns`
                continue
            if buffered or (fd := conn._fd) == -1:
                sink.writelines((ws,))
            else:  # nothing buffered: the kernel takes it now, the rest goes to uvloop
                if fd == UNKNOWN_FD:
                    fd = conn._fd = direct_fd(sink)
                sent = send_frame(fd, ws) if fd >= 0 else 0
                if sent < size:
                    sink.writelines((ws[sent:] if sent else ws,))
            if conn._acked is not None:  # receipts: once per write, as a flush notes
                conn._note([ws])
        else:
            conn.send(item)
    for conn in slow:
        conn._too_slow()


write_each: Callable[[Iterable[Outbox], Outgoing], None] = write_each_py
# a checkout whose compiled module predates fanout.c (not rebuilt since a pull) keeps the
# twin rather than failing at import
if speedups is not None and hasattr(speedups, "configure_write_each"):
    speedups.configure_write_each(Outbox, direct_fd)
    write_each = speedups.write_each
