"""Instructions per unary `Publish` call in a real gateway, counted by callgrind.

`scripts/profile-unary` runs this. It starts `python -m gateway` (memory log, uvloop) under
`valgrind --tool=callgrind`, opens `--subscribers` WebSocket connections (drained by a
thread here, so the fan-out's sends succeed), makes `--warmup` unary `Publish` calls to
everyone and then `--calls` more, one at a time as the steady scenario's publisher does at
50/s (each waits for its answer: a call never queues behind another), from a synchronous
grpc client in this process (not under valgrind). Callgrind's counters are zeroed before
the measured calls and dumped after them, so the dump holds the server's whole cost of a
call, every thread of it (grpc's poller thread and C core included), kernel excluded.

`--subscribers 0` (the default) leaves the fan-out out, so the count is the gRPC hop and
the handler; `--env OTEL_TRACES_EXPORTER=console --env OTEL_TRACES_SAMPLER=always_off`
prices what tracing on but unsampled adds (the console exporter writes nothing unsampled).

`--in-process` counts only the gateway's own part of a call, without grpc: the request's
bytes through the method grpc registered for `Publish` (its deserializer, the behaviour
behind `DecodeGuard`, its serializer) with no connection, in this process under callgrind.

Printed: instructions per call and, with `--functions N`, the N functions with the most
inclusive instructions (`callgrind_annotate --inclusive=yes`); pair it with
`--python-profile` (cProfile in the same setup, no valgrind) to see the Python functions.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pstats
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[2]
for _path in (_ROOT, _ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import grpc  # noqa: E402

from benchkit.connect_cost import (  # noqa: E402
    abort_all,
    connect_all,
    control,
    cprofiled_gateway,
    wait_ready,
)
from gateway.api.v1 import gateway_pb2 as pb  # noqa: E402
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def request(seq: int) -> pb.PublishRequest:
    """A steady-scenario notification: bench.event to everyone, ~100 bytes of data."""
    data = f'{{"ts":{time.time():.6f},"lane":0,"seq":{seq},"pad":"{"x" * 64}"}}'
    return pb.PublishRequest(
        target=pb.Target(everyone=pb.Everyone()),
        notification=pb.Notification(type="bench.event", data_json=data),
    )


def publish(port: int, first: int, count: int) -> None:
    """`count` unary Publish calls, one at a time; each must be accepted."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)  # type: ignore[no-untyped-call]
        for seq in range(first, first + count):
            response = stub.Publish(request(seq), timeout=120)
            if not response.cursor:
                raise RuntimeError(f"call {seq}: no cursor in {response}")


@contextmanager
def draining(socks: list[socket.socket]) -> Iterator[None]:
    """Read whatever the server sends `socks` on a thread until the block ends."""
    stop = threading.Event()
    sel = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)

    def drain() -> None:
        while not stop.is_set():
            for key, _ in sel.select(timeout=0.1):
                with contextlib.suppress(BlockingIOError):
                    key.fileobj.recv(1 << 20)  # type: ignore[union-attr]

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        sel.close()


def _command(prefix: list[str], http: int, grpc_port: int, args: argparse.Namespace) -> list[str]:
    cmd = [*prefix, "--http-port", str(http), "--grpc-port", str(grpc_port)]
    return [*cmd, "--log-level", "WARNING", *args.gateway_arg]


def _env(args: argparse.Namespace) -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    for pair in args.env:
        key, _, value = pair.partition("=")
        env[key] = value
    return env


def _total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def run_callgrind(args: argparse.Namespace, out: Path) -> int:
    http, grpc_port = _free_port(), _free_port()
    cmd = ["valgrind", "--tool=callgrind", "--dump-instr=no", "--compress-strings=no"]
    cmd += [f"--callgrind-out-file={out}/callgrind.out"]
    cmd = _command([*cmd, sys.executable, "-m", "gateway"], http, grpc_port, args)
    with (out / "valgrind.log").open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=_ROOT, env=_env(args), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_ready(http, proc, within=300)
        socks = connect_all(http, 0, args.subscribers, 100)
        with draining(socks):
            publish(grpc_port, 0, args.warmup)
            time.sleep(1)  # the fan-outs of the warm-up calls are over
            control(proc.pid, "--zero", port=http)
            publish(grpc_port, args.warmup, args.calls)
            time.sleep(0.5 + args.subscribers * args.calls / 20_000)  # their fan-outs
            control(proc.pid, "--dump=calls", port=http)
        abort_all(socks)
    finally:
        proc.terminate()
        proc.wait(60)
    if args.keep:
        for dump in out.glob("callgrind.out*"):
            shutil.copy(dump, args.keep)
    dump = min(out.glob("callgrind.out.*"), key=lambda p: p.stat().st_mtime)
    n = args.calls
    print(f"unary Publish calls: {n}, one at a time, after {args.warmup} warm-up calls")
    print(f"subscribers: {args.subscribers}; env: {' '.join(args.env) or '-'}")
    print(f"instructions per call: {_total(dump) / n:,.0f}")
    if args.functions:
        annotate = ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)]
        text = subprocess.run(annotate, capture_output=True, text=True, check=True).stdout
        rows = [line for line in text.splitlines() if line.strip()[:1].isdigit()]
        print(f"\nthe top {args.functions} functions (inclusive, per call):")
        for line in rows[: args.functions]:
            count, _, name = line.strip().partition(" ")
            per = int(count.replace(",", "")) / n
            print(f"{per:>12,.0f}  {name.strip()[:110]}")
    return 0


class _Registry:
    """Stands in for a grpc server in the registration: keeps the handlers it is given."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self.handlers.update(handlers)


def in_process(calls: int, warmup: int) -> None:
    """The registered `Publish` method, bytes to bytes, `calls` times between two markers
    (`os.getppid()`: callgrind dumps before each, `--dump-before=getppid`)."""
    import asyncio

    from gateway.flush import FlushScheduler
    from gateway.gc_policy import settle
    from gateway.grpc.decoding import DecodeGuard
    from gateway.grpc.servicer import GatewayServicer, register
    from gateway.hub import Hub
    from gateway.log.memory import MemoryLog
    from gateway.service import NotificationService

    service = NotificationService(
        MemoryLog(max_entries=100_000),
        Hub(),
        FlushScheduler(asyncio.new_event_loop()),  # never run: nothing is queued
        max_notification_bytes=64 * 1024,
        max_connections=1_000_000,
        max_connections_per_user=8,
    )
    _finish(service.start())
    registry = _Registry()
    register(GatewayServicer(service), DecodeGuard(registry))
    method = registry.handlers["Publish"]
    parse, behave = method.request_deserializer, method.unary_unary
    context: Any = None  # never used: nothing here aborts
    serialize = method.response_serializer
    assert parse is not None and behave is not None and serialize is not None
    payloads = [request(seq).SerializeToString() for seq in range(warmup + calls)]

    def one(raw: bytes) -> None:
        if not serialize(_finish(behave(parse(raw), context))):
            raise RuntimeError("an empty response")

    for raw in payloads[:warmup]:
        one(raw)
    settle()  # the collector as the server runs it
    os.getppid()
    for raw in payloads[warmup:]:
        one(raw)
    os.getppid()


def _finish(coro: Any) -> Any:
    """Run a coroutine that never suspends (the memory log's) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the coroutine suspended")


def run_in_process(args: argparse.Namespace, out: Path) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--dump-before=getppid", "--dump-instr=no"]
    cmd += [f"--callgrind-out-file={out}/callgrind.out.%p", sys.executable, __file__]
    cmd += ["--in-process-child", "--calls", str(args.calls), "--warmup", str(args.warmup)]
    with (out / "valgrind.log").open("wb") as log:
        subprocess.run(cmd, env=_env(args), stdout=log, stderr=subprocess.STDOUT, check=True)
    # dumps: before the first marker (setup), the calls, after the second (exit)
    dumps = sorted(out.glob("callgrind.out.*.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    print(f"the registered Publish method in-process: {args.calls} calls, no connection")
    print(f"instructions per call: {_total(dumps[1]) / args.calls:,.0f}")
    return 0


def run_cprofile(args: argparse.Namespace, out: Path) -> int:
    """The same calls under cProfile (no valgrind): which Python functions run per call."""
    http, grpc_port = _free_port(), _free_port()
    stats = out / "unary.prof"
    cmd = _command(cprofiled_gateway(stats), http, grpc_port, args)
    proc = subprocess.Popen(cmd, cwd=_ROOT, env=_env(args))
    try:
        wait_ready(http, proc, within=60)
        socks = connect_all(http, 0, args.subscribers, 100)
        with draining(socks):
            publish(grpc_port, 0, args.warmup)
            time.sleep(0.5)
            proc.send_signal(signal.SIGUSR1)
            time.sleep(0.2)
            publish(grpc_port, args.warmup, args.calls)
            time.sleep(0.5)
            proc.send_signal(signal.SIGUSR2)
            proc.wait(30)
        abort_all(socks)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    pstats.Stats(str(stats)).sort_stats("tottime").print_stats(args.functions or 30)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=0)
    parser.add_argument("--functions", type=int, default=0, help="list the top N functions")
    parser.add_argument("--python-profile", action="store_true", help="cProfile, no valgrind")
    parser.add_argument("--keep", type=Path, help="copy the callgrind dump into this folder")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the gateway")
    parser.add_argument("--gateway-arg", action="append", default=[], help="passed on")
    parser.add_argument("--in-process", action="store_true", help="the handler alone")
    parser.add_argument("--in-process-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.in_process_child:
        in_process(args.calls, args.warmup)
        return 0
    if not args.python_profile and shutil.which("valgrind") is None:
        print("valgrind is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        if args.python_profile:
            return run_cprofile(args, out)
        if args.in_process:
            return run_in_process(args, out)
        return run_callgrind(args, out)


if __name__ == "__main__":
    sys.exit(main())
