"""The kernel floor: how long one fan-out of raw send() calls takes on this machine.

On a VM a loopback TCP send() costs several microseconds (~7-10 here), because the kernel
runs the receiving side's TCP path in the sender's context. That bounds every
single-threaded server: one notification to N connections costs at least N such calls,
however lean its Python. Measured with no server at all: N accepted loopback sockets whose
peers a reader process drains (epoll), and a plain non-blocking `sock.send(frame)` loop
over all N, repeated ROUNDS times GAP_S apart. Reported: a round's median and p99 (ms),
and the implied send() calls per second on one core. Then the same rounds with the
sockets split between two threads (send() releases the GIL), the most two cores can do
for one fan-out, load client aside.
"""

from __future__ import annotations

import multiprocessing as mp
import select
import signal
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection as PipeEnd

from . import HOST, Metrics
from .payload import data_json, pad
from .stats import percentiles

ROUNDS = 40
WARMUP_ROUNDS = 2
GAP_S = 0.020
#: Connecting may take this long at most; the reader process exits after its lifetime.
SETUP_S = 20.0
READER_LIFETIME_S = 60.0


def title(sockets: int) -> str:
    return (
        f"floor: one fan-out of {sockets} raw send() calls over loopback, "
        f"{ROUNDS} rounds {GAP_S * 1000:g} ms apart, no server"
    )


def run(sockets: int, data_bytes: int, warnings: list[str]) -> Metrics | None:
    """Measure and print the floor; None, with a warning, if it could not be measured."""
    print(f"\n== {title(sockets)} ==", flush=True)
    try:
        m = measure(sockets, notification_frame(data_bytes))
    except (OSError, RuntimeError) as exc:
        print(f"  ERROR {type(exc).__name__}: {exc}", flush=True)
        warnings.append(f"floor: not measured: {type(exc).__name__}: {exc}")
        return None
    rt, r2 = m["round_ms"], m["round_ms_two_threads"]
    print(
        f"  {m['frame_bytes']}-byte frames: median {rt['p50']:.2f} ms, p99 {rt['p99']:.2f} ms, "
        f"max {rt['max']:.2f} ms per round; {m['per_send_us']:.1f} us per send() = "
        f"{m['sends_per_s']:,.0f} sends/s on one core; two threads: median {r2['p50']:.2f} ms, "
        f"p99 {r2['p99']:.2f} ms; took {m['seconds']:.1f}s",
        flush=True,
    )
    if m["short_sends"]:
        warnings.append(
            f"floor: {m['short_sends']} send() calls did not take the whole frame "
            "(the reader fell behind): the floor is understated"
        )
    return m


def notification_frame(data_bytes: int) -> bytes:
    """A server-to-client text frame shaped like the gateway's notification event."""
    data = data_json(time.time(), 0, 0, pad(data_bytes))
    text = (
        '{"event":"notification","cursor":"6612b3d01a30d-1","notification":'
        '{"id":"01a2175b-6fce-716c-aa11-12aa6ea5178a","type":"bench.event","title":"",'
        f'"body":"","data":{data},"priority":"normal",'
        '"created_at":"2026-11-26T10:16:38.094Z"}}'
    ).encode()
    n = len(text)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65_536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + text


def measure(sockets: int, frame: bytes, rounds: int = ROUNDS, gap: float = GAP_S) -> Metrics:
    """Time `rounds` fan-outs of `frame` over `sockets` loopback connections."""
    started = time.monotonic()
    ctx = mp.get_context("spawn")  # the parent may have started gRPC threads: never fork
    ours, theirs = ctx.Pipe()
    conns: list[socket.socket] = []
    with socket.create_server((HOST, 0), backlog=min(sockets, 4096)) as listener:
        listener.settimeout(0.5)
        port: int = listener.getsockname()[1]
        reader = ctx.Process(
            target=_drain, args=(theirs, port, sockets), name="bench-floor", daemon=True
        )
        reader.start()
        theirs.close()
        try:
            deadline = time.monotonic() + SETUP_S
            while len(conns) < sockets:
                try:
                    conns.append(listener.accept()[0])
                except TimeoutError:
                    if not reader.is_alive() or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"the reader process connected {len(conns)} of {sockets} sockets"
                        ) from None
            if not ours.poll(SETUP_S):
                raise RuntimeError("the reader process did not report ready")
            ours.recv()
            for conn in conns:
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio does
            sends = [c.send for c in conns]
            times, short = _rounds(sends, frame, rounds, gap)
            with ThreadPoolExecutor(1, thread_name_prefix="bench-floor") as helper:
                times2, short2 = _rounds(sends, frame, rounds, gap, helper)
        finally:
            for conn in conns:
                conn.close()
            ours.close()
            reader.join(5)
            if reader.is_alive():
                reader.kill()
                reader.join(2)
    round_ms = percentiles(times)
    return {
        "sockets": sockets,
        "rounds": rounds,
        "gap_ms": gap * 1000,
        "frame_bytes": len(frame),
        "round_ms": round_ms,
        "round_ms_two_threads": percentiles(times2),
        "per_send_us": round_ms["p50"] * 1000 / sockets,
        "sends_per_s": sockets / (round_ms["p50"] / 1000),
        "short_sends": short + short2,
        "seconds": time.monotonic() - started,
    }


def _rounds(
    sends: Sequence[Callable[[bytes], int]],
    frame: bytes,
    rounds: int,
    gap: float,
    helper: ThreadPoolExecutor | None = None,
) -> tuple[list[float], int]:
    """Each round's time in ms (sorted), and how many send() calls did not take all.

    With `helper`, a round's second half of the sockets is sent to from its thread while
    this one sends to the first half.
    """
    half = len(sends) // 2 if helper is not None else len(sends)
    times: list[float] = []
    short = 0
    for r in range(WARMUP_ROUNDS + rounds):
        t0 = time.perf_counter()
        other = helper.submit(_send_all, sends[half:], frame) if helper is not None else None
        short += _send_all(sends[:half], frame)
        if other is not None:
            short += other.result()
        elapsed = time.perf_counter() - t0
        if r >= WARMUP_ROUNDS:
            times.append(elapsed * 1000.0)
        time.sleep(gap)
    return sorted(times), short


def _send_all(sends: Sequence[Callable[[bytes], int]], frame: bytes) -> int:
    """`frame` to every socket; how many send() calls did not take all of it."""
    size = len(frame)
    short = 0
    for send in sends:
        try:
            if send(frame) < size:
                short += 1
        except BlockingIOError:
            short += 1
    return short


def _drain(pipe: PipeEnd, port: int, count: int) -> None:
    """The reader process: connect `count` sockets, then read all they get until told to stop.

    Stops when the pipe closes, when every socket has closed, or after READER_LIFETIME_S.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent closes the pipe instead
    deadline = time.monotonic() + READER_LIFETIME_S
    socks = [socket.create_connection((HOST, port), timeout=SETUP_S) for _ in range(count)]
    poller = select.epoll()
    by_fd: dict[int, socket.socket] = {}
    try:
        for sock in socks:
            sock.setblocking(False)
            poller.register(sock.fileno(), select.EPOLLIN)
            by_fd[sock.fileno()] = sock
        poller.register(pipe.fileno(), select.EPOLLIN)
        pipe.send("ready")
        while by_fd and time.monotonic() < deadline:
            for fd, _ in poller.poll(0.1):
                peer = by_fd.get(fd)
                if peer is None:
                    return  # the pipe: the parent is done
                try:
                    data = peer.recv(65_536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    poller.unregister(fd)
                    del by_fd[fd]
    finally:
        poller.close()
        for sock in socks:
            sock.close()
