"""Instructions per WebSocket connect and per close, counted by callgrind in a real gateway.

`scripts/profile-connect` runs this. It starts `python -m gateway` (memory log, uvloop)
under `valgrind --tool=callgrind`, opens `--warmup` connections and closes them (so caches,
free lists and the interpreter's specialisations are warm), then opens `--connections`
more, `--in-flight` at a time, each waiting for its 101 and welcome as the bench's load
client does, and aborts them all as the bench does at the end of its idle scenario.
Callgrind's counters are zeroed before the connects and dumped after them and after the
closes (`callgrind_control`), so each dump holds one phase of the server's work, kernel
excluded. Wall clock on a shared 2-core machine cannot resolve a few percent of the
connect path; these counts are the same from run to run within a fraction of a percent.

Printed: instructions per connect and per close, and, with `--functions N`, the N
functions with the most inclusive instructions in the connect phase
(`callgrind_annotate --inclusive=yes`), which names C functions and, for Python code,
only the interpreter: pair it with `--python-profile` (cProfile in the same setup, no
valgrind) to see which Python functions run per connect.
"""

from __future__ import annotations

import argparse
import os
import pstats
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
_REQUEST = (
    "GET /ws?user_id={user} HTTP/1.1\r\n"
    "Host: 127.0.0.1:{port}\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n"
)
#: SO_LINGER on, 0 s: close() sends RST, as the load client's transport.abort() does.
_ABORT = struct.pack("ii", 1, 0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _welcomed(buf: bytes) -> bool:
    """Whether `buf` holds a whole 101 response and the first frame after it."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    if not buf.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"not upgraded: {buf[:200]!r}")
    frame = buf[end + 4 :]
    if len(frame) < 2:
        return False
    size = frame[1] & 0x7F
    if size == 126:
        return len(frame) >= 4 and len(frame) >= 4 + int.from_bytes(frame[2:4], "big")
    return len(frame) >= 2 + size


def connect_all(port: int, first: int, count: int, in_flight: int) -> list[socket.socket]:
    """Open `count` WebSocket connections, `in_flight` at a time; each waits for its welcome."""
    sel = selectors.DefaultSelector()
    done: list[socket.socket] = []
    buffers: dict[socket.socket, bytes] = {}
    next_user = first
    last = first + count

    def start() -> None:
        nonlocal next_user
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        buffers[sock] = b""
        sel.register(sock, selectors.EVENT_WRITE, next_user)
        next_user += 1

    while next_user < last and len(buffers) < in_flight:
        start()
    while buffers:
        for key, events in sel.select(timeout=120):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if events & selectors.EVENT_WRITE:
                sock.send(_REQUEST.format(user=f"u{key.data}", port=port).encode())
                sel.modify(sock, selectors.EVENT_READ, key.data)
                continue
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("the server closed a connection during its handshake")
            buf = buffers[sock] = buffers[sock] + data
            if _welcomed(buf):
                sel.unregister(sock)
                del buffers[sock]
                done.append(sock)
                if next_user < last:
                    start()
    sel.close()
    return done


def abort_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _ABORT)
        sock.close()


def poke(port: int) -> None:
    """A connection closed at once: wakes a server blocked in epoll, so callgrind serves a
    `callgrind_control` request that is waiting (it does so only while the client runs)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    except OSError:
        pass


def control(pid: int, *args: str, port: int) -> None:
    """Run `callgrind_control` on the server, poking it until the request is served."""
    proc = subprocess.Popen(
        ["callgrind_control", *args, str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while proc.poll() is None:
        time.sleep(0.3)
        poke(port)
    if proc.returncode:
        raise RuntimeError(f"callgrind_control {' '.join(args)} failed")


def wait_ready(port: int, proc: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the gateway exited while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the gateway did not answer /healthz within {within:g} s")


def _total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def run_callgrind(args: argparse.Namespace, out: Path) -> int:
    http, grpc = _free_port(), _free_port()
    cmd = ["valgrind", "--tool=callgrind", "--dump-instr=no", "--compress-strings=no"]
    cmd += [f"--callgrind-out-file={out}/callgrind.out"]
    cmd += [sys.executable, "-m", "gateway", "--http-port", str(http), "--grpc-port", str(grpc)]
    cmd += ["--log-level", "WARNING", *args.gateway_arg]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    with (out / "valgrind.log").open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(http, proc, within=300)
        abort_all(connect_all(http, 0, args.warmup, args.in_flight))
        time.sleep(1)  # the server takes its closes in
        control(proc.pid, "--zero", port=http)
        socks = connect_all(http, args.warmup, args.connections, args.in_flight)
        control(proc.pid, "--dump=connect", port=http)
        abort_all(socks)
        time.sleep(2 + args.connections / 500)  # the closes, slowed down 50x by valgrind
        control(proc.pid, "--dump=close", port=http)
    finally:
        proc.terminate()
        proc.wait(60)
    if args.keep:
        for dump in out.glob("callgrind.out*"):
            shutil.copy(dump, args.keep)
    dumps = sorted(out.glob("callgrind.out.*"), key=lambda p: p.stat().st_mtime)
    connect, close = dumps[0], dumps[1]
    n = args.connections
    print(f"connects: {n}, {args.in_flight} in flight, after {args.warmup} warm-up connects")
    print(f"instructions per connect: {_total(connect) / n:,.0f}")
    print(f"instructions per close:   {_total(close) / n:,.0f}")
    if args.functions:
        annotate = ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(connect)]
        text = subprocess.run(annotate, capture_output=True, text=True, check=True).stdout
        rows = [line for line in text.splitlines() if line.strip()[:1].isdigit()]
        print(f"\nthe connect phase's top {args.functions} functions (inclusive, per connect):")
        for line in rows[: args.functions]:
            count, _, name = line.strip().partition(" ")
            per = int(count.replace(",", "")) / n
            print(f"{per:>12,.0f}  {name.strip()[:110]}")
    return 0


def cprofiled_gateway(stats: Path) -> list[str]:
    """The command (before the gateway's own arguments) of a gateway under cProfile that
    profiles from SIGUSR1 and, at SIGUSR2, writes its stats to `stats` and exits."""
    code = (
        "import cProfile, signal, sys, gateway.cli as c\n"
        "p = cProfile.Profile()\n"
        "def stop(*_):\n"
        f"    p.disable(); p.dump_stats({str(stats)!r}); sys.exit(0)\n"
        "signal.signal(signal.SIGUSR1, lambda *_: p.enable())\n"
        "signal.signal(signal.SIGUSR2, stop)\n"
        "sys.argv = ['gateway', *sys.argv[1:]]\n"
        "c.main()\n"
    )
    return [sys.executable, "-c", code]


def run_cprofile(args: argparse.Namespace, out: Path) -> int:
    """The same connects under cProfile (no valgrind): which Python functions run per connect."""
    http, grpc = _free_port(), _free_port()
    stats = out / "connect.prof"
    cmd = [*cprofiled_gateway(stats), "--http-port", str(http), "--grpc-port", str(grpc)]
    cmd += ["--log-level", "WARNING", *args.gateway_arg]
    proc = subprocess.Popen(cmd, cwd=_ROOT)
    try:
        wait_ready(http, proc, within=60)
        abort_all(connect_all(http, 0, args.warmup, args.in_flight))
        time.sleep(0.5)
        proc.send_signal(signal.SIGUSR1)
        time.sleep(0.2)
        abort_all(connect_all(http, args.warmup, args.connections, args.in_flight))
        time.sleep(1)
        proc.send_signal(signal.SIGUSR2)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    pstats.Stats(str(stats)).sort_stats("tottime").print_stats(args.functions or 30)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--functions", type=int, default=0, help="list the top N functions")
    parser.add_argument("--python-profile", action="store_true", help="cProfile, no valgrind")
    parser.add_argument("--keep", type=Path, help="copy the callgrind dumps into this folder")
    parser.add_argument("--gateway-arg", action="append", default=[], help="passed on")
    args = parser.parse_args(argv)
    if not args.python_profile and shutil.which("valgrind") is None:
        print("valgrind is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        if args.python_profile:
            return run_cprofile(args, out)
        return run_callgrind(args, out)


if __name__ == "__main__":
    sys.exit(main())
