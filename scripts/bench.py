"""Benchmark: the gateway against a naive aiohttp broadcast loop, side by side in one run.

Every figure is measured twice in the same run, once against the gateway
(`python -m gateway` in a subprocess) and once against the BASELINE shipped in this file:
a plain aiohttp server with the same `/ws?user_id=&topics=` URL and a gRPC server for the
same `Publish`/`PublishBatch` (the generated code in gateway/api/v1), which on each publish
does `for ws in clients: await ws.send_str(payload)`. Both pay the same gRPC hop; both run
on uvloop when it is installed. The baseline validates nothing.

Scenarios (each scaled by flags; `--quick` runs all of them small in under a minute):
  broadcast  N subscribers, K notifications to everyone → deliveries/s, p50/p99 latency
  steady     N subscribers, R notifications/s for S seconds (unary Publish) → p50/p99/max
  peruser    U users, K notifications each to one user (PublishBatch) → notifications/s
  idle       C connections held → server RSS per connection, connections/s
  slow       C clients, one stops reading, a stream of broadcasts → the others' throughput,
             whether the stalled one is closed with 4008, server RSS growth

The load client runs in separate processes (`--procs`, uvloop when available): a raw
asyncio Protocol that does the upgrade handshake itself, parses only frame headers, and
reads a timestamp and sequence number out of every `--sample`-th frame. The publisher
keeps at most `--window` notifications in flight (published but not yet received by every
client), so a load client slower than the server shows up as a lower rate, not as clients
closed for being slow. Latency is time.time() at publish (embedded in the data) to
time.time() when the frame is read, gRPC hop included; at saturation it measures the
window's queueing delay too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing as mp
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection as PipeEnd
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from aiohttp import web

    from gateway.api.v1 import gateway_pb2 as pb
    from gateway.api.v1 import gateway_pb2_grpc as pb_grpc

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
HOST = "127.0.0.1"
SERVERS = ("gateway", "baseline")
SCENARIOS = ("broadcast", "steady", "peruser", "idle", "slow")
#: Per receiver process: latency samples kept (the rest are counted, not stored).
MAX_SAMPLES = 2_000_000
#: A receiver process at or above this share of one core was the bottleneck.
SATURATED = 0.85

T = TypeVar("T")
Metrics = dict[str, Any]


# --------------------------------------------------------------------------------------
# Load client: a lean WebSocket receiver (runs in child processes)
# --------------------------------------------------------------------------------------

_HANDSHAKE = (
    "GET {path} HTTP/1.1\r\n"
    "Host: {host}:{port}\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n"
)
_ZERO_MASK = b"\x00\x00\x00\x00"  # client frames must be masked; a zero key leaves bytes as-is


class WsClient(asyncio.Protocol):
    """One connection: handshake, then frame headers only; every `sample`-th frame is read.

    The first text frame is the server's welcome (the connection is then registered);
    every later text frame is counted as a notification.
    """

    def __init__(self, rx: Receiver, request: bytes) -> None:
        self.rx = rx
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.count = 0
        self.last: list[int] = []
        self.close_code: int | None = None
        self.stalled = False
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost before welcome: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)
        if self.upgraded and self.close_code is None and not self.closing:
            self.rx.unexpected_lost += 1

    def _fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            data = self._handshake(data)
            if not data:
                return
        rx = self.rx
        now = time.time()
        buf = self.buf + data if self.buf else data
        size = len(buf)
        pos = 0
        count = self.count
        sample = rx.sample
        while size - pos >= 2:
            length = buf[pos + 1] & 0x7F
            if length < 126:
                start = pos + 2
            elif length == 126:
                if size - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            else:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            opcode = buf[pos] & 0x0F
            pos = end
            if opcode == 0x1:
                if count or self.ready.done():
                    count += 1
                    if count % sample == 0:
                        self._sample(buf, start, end, now)
                else:
                    self.ready.set_result(None)  # the welcome
            elif opcode == 0x8:
                self._on_close(buf[start:end])
                break
            elif opcode == 0x9 and self.transport is not None:  # ping → pong
                self.transport.write(bytes((0x8A, 0x80 | length)) + _ZERO_MASK + buf[start:end])
        self.buf = buf[pos:] if pos < size else b""
        got = count - self.count
        if got:
            self.count = count
            rx.frames += got
            rx.shared.value += got
            rx.last_rx = now
            if not rx.first_rx:
                rx.first_rx = now

    def _handshake(self, data: bytes) -> bytes:
        buf = self.buf + data
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buf) > 65_536:
                self._fail("oversized HTTP response")
            self.buf = buf
            return b""
        status = buf[: buf.find(b"\r\n")].decode("latin-1")
        if status.split(" ")[1:2] != ["101"]:
            body = buf[head_end + 4 : head_end + 200].decode("utf-8", "replace")
            self._fail(f"{status} {body}".strip())
            return b""
        self.upgraded = True
        self.buf = b""
        return buf[head_end + 4 :]

    def _sample(self, buf: bytes, start: int, end: int, now: float) -> None:
        rx = self.rx
        i = buf.find(b'"ts":', start, end)
        if i < 0:
            rx.bad_samples += 1
            return
        j = buf.find(b",", i, end)
        k = buf.find(b'"lane":', j, end)
        m = buf.find(b",", k, end)
        q = buf.find(b'"seq":', m, end)
        r = buf.find(b",", q, end)
        try:
            ts = float(buf[i + 5 : j])
            lane = int(buf[k + 7 : m])
            seq = int(buf[q + 6 : r])
        except ValueError:
            rx.bad_samples += 1
            return
        if len(rx.lat) < MAX_SAMPLES:
            rx.lat.append((now - ts) * 1000.0)
        last = self.last
        if lane >= len(last):
            last.extend([-1] * (lane + 1 - len(last)))
        # Every frame sampled: each lane's sequence must be gap-free; otherwise increasing.
        if (seq != last[lane] + 1) if rx.sample == 1 else (seq <= last[lane]):
            rx.order_errors += 1
        last[lane] = seq

    def _on_close(self, payload: bytes) -> None:
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        self.close_code = code
        self.rx.close_codes[code] = self.rx.close_codes.get(code, 0) + 1
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(bytes((0x88, 0x82)) + _ZERO_MASK + code.to_bytes(2, "big"))
            self.transport.close()
        if not self.closed.done():
            self.closed.set_result(None)


class Receiver:
    """A child process's command loop: connect, reset, stall, report, close (over a pipe)."""

    def __init__(self, pipe: PipeEnd, shared: Any) -> None:
        self.pipe = pipe
        self.shared = shared
        self.clients: list[WsClient] = []
        self.sample = 10
        self._tasks: set[asyncio.Task[None]] = set()
        self._done: asyncio.Future[None] | None = None
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.frames = 0
        self.first_rx = 0.0
        self.last_rx = 0.0
        self.lat: list[float] = []
        self.order_errors = 0
        self.bad_samples = 0
        self.unexpected_lost = 0
        self.close_codes: dict[int, int] = {}
        self.cpu_mark = time.process_time()
        self.shared.value = 0

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        loop.add_reader(self.pipe.fileno(), self._on_command)
        await self._done

    def _on_command(self) -> None:
        # uvloop's add_reader makes the pipe non-blocking, and a big command (thousands of
        # connection specs) arrives in pieces: read it whole, blocking.
        os.set_blocking(self.pipe.fileno(), True)
        try:
            req_id, name, kwargs = self.pipe.recv()
        except (EOFError, OSError):
            if self._done is not None and not self._done.done():
                self._done.set_result(None)
            return
        task = asyncio.ensure_future(self._run(req_id, name, kwargs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, req_id: int, name: str, kwargs: dict[str, Any]) -> None:
        try:
            result: Any = await getattr(self, f"cmd_{name}")(**kwargs)
            reply = (req_id, True, result)
        except Exception:
            reply = (req_id, False, traceback.format_exc())
        os.set_blocking(self.pipe.fileno(), True)  # see _on_command
        self.pipe.send(reply)
        if name == "exit" and self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def cmd_connect(
        self, port: int, specs: list[tuple[str, str]], concurrency: int, budget: float
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)
        errors: dict[str, int] = {}
        first = len(self.clients)
        clients = [
            WsClient(self, _HANDSHAKE.format(path=_ws_path(u, t), host=HOST, port=port).encode())
            for u, t in specs
        ]
        self.clients.extend(clients)
        deadline = loop.time() + budget

        async def one(client: WsClient) -> bool:
            async with gate:
                try:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise TimeoutError("connect phase timed out")
                    async with asyncio.timeout(remaining):
                        await loop.create_connection(lambda: client, HOST, port)
                        await client.ready
                    return True
                except (OSError, TimeoutError) as exc:
                    key = f"{type(exc).__name__}: {exc}"[:160]
                    errors[key] = errors.get(key, 0) + 1
                    if client.transport is not None:
                        client.transport.abort()
                    return False

        t0, cpu0 = time.time(), time.process_time()
        ok = sum(await asyncio.gather(*(one(c) for c in clients)))
        t1 = time.time()
        return {
            "cpu": time.process_time() - cpu0,
            "ok": ok,
            "failed": len(clients) - ok,
            "errors": errors,
            "t0": t0,
            "t1": t1,
            "first": first,
        }

    async def cmd_reset(self, sample: int) -> None:
        self.sample = max(1, sample)
        self._reset_counters()
        for client in self.clients:
            client.count = 0
            client.last = []

    async def cmd_stall(self, index: int) -> None:
        client = self.clients[index]
        client.stalled = True
        if client.transport is not None:
            client.transport.pause_reading()

    async def cmd_report(self) -> dict[str, Any]:
        return {
            "counts": [c.count for c in self.clients],
            "frames": self.frames,
            "first_rx": self.first_rx,
            "last_rx": self.last_rx,
            "lat": self.lat,
            "order_errors": self.order_errors,
            "bad_samples": self.bad_samples,
            "unexpected_lost": self.unexpected_lost,
            "close_codes": self.close_codes,
            "cpu": time.process_time() - self.cpu_mark,
        }

    async def cmd_resume(self, index: int, wait_close: float) -> dict[str, Any]:
        """Read the stalled connection again; wait for its close frame or end (bounded)."""
        client = self.clients[index]
        before = client.count
        if client.transport is not None and not client.transport.is_closing():
            client.transport.resume_reading()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(client.closed), wait_close)
        return {
            "close_code": client.close_code,
            "ended": client.closed.done(),
            "frames_before": before,
            "frames_after_resume": client.count - before,
        }

    async def cmd_close(self) -> int:
        clients, self.clients = self.clients, []
        for client in clients:
            client.closing = True
            if client.transport is not None:
                client.transport.abort()
        pending = [c.closed for c in clients if not c.closed.done()]
        if pending:
            await asyncio.wait(pending, timeout=5.0)
        return len(clients)

    async def cmd_exit(self) -> None:
        await self.cmd_close()


def _ws_path(user_id: str, topics: str) -> str:
    return f"/ws?user_id={user_id}" + (f"&topics={topics}" if topics else "")


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def receiver_main(pipe: PipeEnd, shared: Any) -> None:
    """Entry point of a load-client process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us with "exit"
    with asyncio.Runner(loop_factory=_uvloop_factory()) as runner:
        runner.run(Receiver(pipe, shared).serve())


class ReceiverHandle:
    """The parent's side of one receiver process: awaitable request/reply over a pipe."""

    def __init__(self, ctx: Any, index: int) -> None:
        self.index = index
        self.pipe, child = ctx.Pipe()
        #: Notification frames received since the last reset (written by the child).
        self.counter = ctx.RawValue("q", 0)
        self.process = ctx.Process(
            target=receiver_main, args=(child, self.counter), name=f"bench-rx{index}", daemon=True
        )
        self.process.start()
        child.close()
        self._ids = itertools.count()

    async def call(self, name: str, wait: float = 60.0, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        req_id = next(self._ids)
        fut: asyncio.Future[Any] = loop.create_future()
        fd = self.pipe.fileno()

        def readable() -> None:
            try:
                rid, ok, value = self.pipe.recv()
            except (EOFError, OSError) as exc:
                if not fut.done():
                    fut.set_exception(RuntimeError(f"receiver {self.index} died: {exc}"))
                return
            if rid != req_id or fut.done():
                return  # a late reply to a call that timed out
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(RuntimeError(f"receiver {self.index} {name}: {value}"))

        self.pipe.send((req_id, name, kwargs))
        loop.add_reader(fd, readable)
        try:
            return await asyncio.wait_for(fut, wait)
        finally:
            loop.remove_reader(fd)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.pipe.close()
        self.process.join(3)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2)


# --------------------------------------------------------------------------------------
# The naive baseline server (runs as `bench.py --serve-baseline`)
# --------------------------------------------------------------------------------------


def baseline_serve(http_port: int, grpc_port: int) -> None:
    with asyncio.Runner(loop_factory=_uvloop_factory()) as runner:
        runner.run(_baseline_main(http_port, grpc_port))


async def _baseline_main(http_port: int, grpc_port: int) -> None:
    """aiohttp + grpc.aio, as people write it: one `await ws.send_str()` per delivery."""
    from aiohttp import web
    from grpc import aio

    from gateway.api.v1 import gateway_pb2 as pb
    from gateway.api.v1 import gateway_pb2_grpc as pb_grpc

    clients: set[web.WebSocketResponse] = set()
    by_user: dict[str, set[web.WebSocketResponse]] = {}
    by_topic: dict[str, set[web.WebSocketResponse]] = {}
    cursors = itertools.count(1)

    async def websocket(request: web.Request) -> web.StreamResponse:
        user_id = request.query.get("user_id", "")
        if not user_id:
            return web.json_response({"error": "user_id is required"}, status=400)
        topics = [t for t in request.query.get("topics", "").split(",") if t]
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        clients.add(ws)
        by_user.setdefault(user_id, set()).add(ws)
        for topic in topics:
            by_topic.setdefault(topic, set()).add(ws)
        try:
            await ws.send_str(json.dumps({"event": "welcome", "user_id": user_id}))
            async for _ in ws:
                pass
        finally:
            clients.discard(ws)
            by_user.get(user_id, set()).discard(ws)
            for topic in topics:
                by_topic.get(topic, set()).discard(ws)
        return ws

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    class Servicer(pb_grpc.NotificationGatewayServicer):
        async def _publish(self, request: pb.PublishRequest) -> pb.PublishResponse:
            kind = request.target.WhichOneof("kind")
            if kind == "everyone":
                recipients = list(clients)
            elif kind == "topic":
                recipients = list(by_topic.get(request.target.topic, ()))
            else:
                recipients = [
                    ws for u in request.target.users.user_ids for ws in by_user.get(u, ())
                ]
            n = request.notification
            cursor = str(next(cursors))
            nid = n.id or os.urandom(16).hex()
            payload = json.dumps(
                {
                    "event": "notification",
                    "cursor": cursor,
                    "notification": {
                        "id": nid,
                        "type": n.type,
                        "title": n.title,
                        "body": n.body,
                        "data": json.loads(n.data_json) if n.data_json else {},
                        "priority": "normal",
                        "created_at": datetime.now(UTC).isoformat(),
                    },
                },
                separators=(",", ":"),
            )
            for ws in recipients:  # the classic broadcast loop
                with contextlib.suppress(ConnectionResetError):
                    await ws.send_str(payload)
            return pb.PublishResponse(id=nid, cursor=cursor, delivered=len(recipients))

        async def Publish(self, request: pb.PublishRequest, context: Any) -> pb.PublishResponse:
            return await self._publish(request)

        async def PublishBatch(
            self, request: pb.PublishBatchRequest, context: Any
        ) -> pb.PublishBatchResponse:
            results = []
            for item in request.requests:
                r = await self._publish(item)
                results.append(pb.PublishResult(id=r.id, cursor=r.cursor, delivered=r.delivered))
            return pb.PublishBatchResponse(results=results)

    server = aio.server()
    pb_grpc.add_NotificationGatewayServicer_to_server(Servicer(), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"{HOST}:{grpc_port}")
    await server.start()
    app = web.Application()
    app.add_routes([web.get("/ws", websocket), web.get("/healthz", healthz)])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, HOST, http_port, backlog=4096).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(0)
    await runner.cleanup()


# --------------------------------------------------------------------------------------
# Servers under test: start, probe, stop
# --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _proc_status_kib(pid: int, key: str = "VmRSS") -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{key}:\s+(\d+)", text, re.M)
    return int(match.group(1)) if match else 0


def _proc_cpu_seconds(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Server:
    kind: str
    proc: asyncio.subprocess.Process
    http_port: int
    grpc_port: int
    log_path: Path
    profiler: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kib(self) -> int:
        return _proc_status_kib(self.pid)

    def cpu(self) -> float:
        return _proc_cpu_seconds(self.pid)


async def start_server(bench: Bench, kind: str, scenario: str) -> Server:
    http_port, grpc_port = _free_port(), _free_port()
    log_path = bench.log_dir / f"{scenario}-{kind}.log"
    if kind == "gateway":
        cmd = [sys.executable, "-m", "gateway", "--http-port", str(http_port)]
        cmd += ["--grpc-port", str(grpc_port), "--log-level", "WARNING", "--grace-seconds", "1"]
        cmd += bench.args.gateway_arg
    else:
        cmd = [sys.executable, str(SCRIPT), "--serve-baseline"]
        cmd += ["--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(kind, proc, http_port, grpc_port, log_path)
    try:
        await _wait_ready(server, within=30.0)
    except BaseException:
        await stop_server(server)
        raise
    if bench.args.py_spy and kind == "gateway":
        server.profiler = _start_py_spy(server.pid, bench.args.py_spy / f"{scenario}-gateway.txt")
    return server


def _start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    cmd = ["py-spy", "record", "--pid", str(pid), "--rate", "200", "--format", "raw"]
    cmd += os.environ.get("BENCH_PY_SPY_FLAGS", "").split()
    cmd += ["--output", str(out), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_ready(server: Server, within: float) -> None:
    from grpc import aio

    deadline = time.monotonic() + within
    while True:
        if server.proc.returncode is not None:
            tail = server.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{server.kind} exited with {server.proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{server.kind} not ready after {within:.0f}s")
        try:
            reader, writer = await asyncio.open_connection(HOST, server.http_port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status = await asyncio.wait_for(reader.readline(), 2.0)
            writer.close()
            if b" 200 " in status:
                break
        except OSError:
            pass
        await asyncio.sleep(0.1)
    async with aio.insecure_channel(f"{HOST}:{server.grpc_port}") as channel:
        await asyncio.wait_for(channel.channel_ready(), max(1.0, deadline - time.monotonic()))


async def stop_server(server: Server) -> None:
    if server.profiler is not None:
        server.profiler.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.profiler.wait(10)
    if server.proc.returncode is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(server.proc.wait(), 8.0)
        except TimeoutError:
            server.proc.kill()
            await server.proc.wait()


def server_log_issues(server: Server) -> dict[str, Any]:
    """Tracebacks, errors and slow-client closes the server wrote to its log."""
    text = server.log_path.read_text(errors="replace")
    lines = text.splitlines()
    slow = sum(1 for line in lines if "closing a slow client" in line)
    bad = [
        line
        for line in lines
        if "Traceback" in line or '"level": "error"' in line or '"level": "critical"' in line
    ]
    first_tb = ""
    if "Traceback" in text:
        start = text.index("Traceback")
        first_tb = text[start : start + 3000]
    return {
        "slow_client_closes": slow,
        "error_lines": len(bad),
        "first_error": first_tb or (bad[0][:1000] if bad else ""),
    }


# --------------------------------------------------------------------------------------
# Orchestration helpers
# --------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    receivers: list[ReceiverHandle]
    log_dir: Path
    warnings: list[str] = field(default_factory=list)

    def received(self) -> int:
        return sum(int(r.counter.value) for r in self.receivers)


def _split(items: Sequence[T], parts: int) -> list[list[T]]:
    return [list(items[i::parts]) for i in range(parts)]


def _unsplit(parts: list[list[T]]) -> list[T]:
    """Inverse of `_split`: back to the original order."""
    out: list[T] = []
    for i in range(max((len(p) for p in parts), default=0)):
        out.extend(p[i] for p in parts if i < len(p))
    return out


async def connect(bench: Bench, server: Server, specs: list[tuple[str, str]]) -> dict[str, Any]:
    """Open every connection (spread over the receivers) and wait for each welcome."""
    budget = max(30.0, len(specs) / 300)
    parts = _split(specs, len(bench.receivers))
    replies = await asyncio.gather(
        *(
            rx.call(
                "connect",
                wait=budget + 30,
                port=server.http_port,
                specs=part,
                concurrency=bench.args.connect_concurrency,
                budget=budget,
            )
            for rx, part in zip(bench.receivers, parts, strict=True)
        )
    )
    ok = sum(r["ok"] for r in replies)
    errors: dict[str, int] = {}
    for r in replies:
        for key, n in r["errors"].items():
            errors[key] = errors.get(key, 0) + n
    t0 = min(r["t0"] for r in replies)
    t1 = max(r["t1"] for r in replies)
    result = {"ok": ok, "failed": len(specs) - ok, "errors": errors, "seconds": t1 - t0}
    result["rate"] = ok / (t1 - t0) if t1 > t0 else 0.0
    result["load_busiest"] = max(r["cpu"] / max(r["t1"] - r["t0"], 1e-9) for r in replies)
    if ok < len(specs):
        print(f"    ! {len(specs) - ok} of {len(specs)} connections failed: {errors}", flush=True)
    if not ok:
        raise RuntimeError(f"no connection was established: {errors}")
    return result


async def close_all(bench: Bench) -> None:
    await asyncio.gather(*(rx.call("close", wait=30) for rx in bench.receivers))


@dataclass
class Mark:
    """CPU and wall clock at the start of a measurement."""

    wall: float
    server_cpu: float
    self_cpu: float


async def reset(bench: Bench, server: Server, sample: int) -> Mark:
    await asyncio.gather(*(rx.call("reset", sample=sample) for rx in bench.receivers))
    return Mark(time.time(), server.cpu(), _self_cpu())


async def report(bench: Bench) -> dict[str, Any]:
    replies = await asyncio.gather(*(rx.call("report", wait=60) for rx in bench.receivers))
    codes: dict[int, int] = {}
    for r in replies:
        for code, n in r["close_codes"].items():
            codes[code] = codes.get(code, 0) + n
    lat = sorted(itertools.chain.from_iterable(r["lat"] for r in replies))
    return {
        "counts": _unsplit([r["counts"] for r in replies]),
        "frames": sum(r["frames"] for r in replies),
        "first_rx": min((r["first_rx"] for r in replies if r["first_rx"]), default=0.0),
        "last_rx": max(r["last_rx"] for r in replies),
        "lat": lat,
        "order_errors": sum(r["order_errors"] for r in replies),
        "bad_samples": sum(r["bad_samples"] for r in replies),
        "unexpected_lost": sum(r["unexpected_lost"] for r in replies),
        "close_codes": codes,
        "rx_cpu": [r["cpu"] for r in replies],
    }


def cpu_figures(
    bench: Bench, server: Server, mark: Mark, rep: dict[str, Any], wall: float, label: str
) -> Metrics:
    """CPU seconds of the server and of the load client over a measurement; warns if saturated."""
    server_cpu = server.cpu() - mark.server_cpu
    pub_cpu = _self_cpu() - mark.self_cpu
    rx_cpu: list[float] = rep["rx_cpu"]
    wall = max(wall, 1e-9)
    busiest = max([*rx_cpu, pub_cpu]) / wall
    m: Metrics = {
        "window": [rep["last_rx"] - wall, rep["last_rx"]],  # wall clock: first send, last frame
        "wall_s": wall,
        "server_cpu_s": server_cpu,
        "load_cpu_s": sum(rx_cpu) + pub_cpu,
        "receiver_cpu_s": rx_cpu,
        "publisher_cpu_s": pub_cpu,
        "server_busy": server_cpu / wall,
        "load_busiest_proc": busiest,
    }
    m["load_saturated"] = busiest >= SATURATED and wall > 0.2
    if m["load_saturated"]:
        bench.warnings.append(
            f"{label}: the LOAD CLIENT was saturated (busiest load process at "
            f"{busiest:.0%} of a core; server at {server_cpu / wall:.0%}): this figure "
            "measures the client as much as the server"
        )
    return m


def percentiles(values: Sequence[float]) -> Metrics:
    """p50/p99/max (nearest rank) of already sorted values, in their unit."""
    if not values:
        return {"p50": None, "p99": None, "max": None, "samples": 0}
    n = len(values)

    def rank(q: float) -> float:
        return values[min(n - 1, max(0, round(q * n) - 1))]

    return {"p50": rank(0.50), "p99": rank(0.99), "max": values[-1], "samples": n}


@dataclass
class Progress:
    """Watches the receivers' shared counters: done, or no progress for too long."""

    bench: Bench
    stall_after: float
    last: int = -1
    since: float = field(default_factory=time.monotonic)

    def stuck(self) -> bool:
        got = self.bench.received()
        now = time.monotonic()
        if got != self.last:
            self.last, self.since = got, now
            return False
        return now - self.since > self.stall_after


async def wait_received(bench: Bench, expected: int, deadline: float, stall_after: float) -> bool:
    """Until the receivers have `expected` notification frames; False on a stall or timeout."""
    progress = Progress(bench, stall_after)
    while True:
        if bench.received() >= expected:
            return True
        if progress.stuck() or time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)


# --------------------------------------------------------------------------------------
# Publishing
# --------------------------------------------------------------------------------------


def _pad(payload_bytes: int) -> str:
    # {"ts":1732612345.123456,"lane":0,"seq":12345,"pad":"..."} is ~55 bytes before padding
    return "x" * max(0, payload_bytes - 56)


def _request(target: pb.Target, ts: float, lane: int, seq: int, pad: str) -> pb.PublishRequest:
    from gateway.api.v1 import gateway_pb2 as pb

    data = f'{{"ts":{ts:.6f},"lane":{lane},"seq":{seq},"pad":"{pad}"}}'
    return pb.PublishRequest(
        target=target, notification=pb.Notification(type="bench.event", data_json=data)
    )


@dataclass
class Plan:
    """What to publish: per lane, the notifications in order, each (target, seq)."""

    lanes: list[list[tuple[pb.Target, int]]]
    batch: int
    pad: str
    #: Deliveries per notification (to turn received frames into notifications).
    fanout: float
    #: Notifications in flight (published, not yet received everywhere); 0 = unbounded.
    window: int
    deadline: float
    stall_after: float


@dataclass
class Outcome:
    sent: int = 0
    first_send: float = 0.0
    last_ack: float = 0.0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    blocked: str = ""


async def publish_batches(
    bench: Bench, stub: pb_grpc.NotificationGatewayStub, plan: Plan
) -> Outcome:
    """Each lane sends PublishBatch calls one after another; lanes run concurrently."""
    from gateway.api.v1 import gateway_pb2 as pb

    out = Outcome()
    progress = Progress(bench, plan.stall_after)

    async def lane(index: int, items: list[tuple[pb.Target, int]]) -> None:
        for start in range(0, len(items), plan.batch):
            chunk = items[start : start + plan.batch]
            while plan.window:  # back-pressure from the receivers, not from the server
                in_flight = out.sent - bench.received() / plan.fanout
                if in_flight + len(chunk) <= plan.window + plan.batch:
                    break
                if progress.stuck() or time.monotonic() > plan.deadline:
                    raise TimeoutError("receivers made no progress: the server is blocked")
                await asyncio.sleep(0.001)
            ts = time.time()
            if not out.first_send:
                out.first_send = ts
            request = pb.PublishBatchRequest(
                requests=[_request(t, ts, index, seq, plan.pad) for t, seq in chunk]
            )
            out.sent += len(chunk)
            timeout = max(0.1, plan.deadline - time.monotonic())
            response = await stub.PublishBatch(request, timeout=timeout)
            out.last_ack = time.time()
            for result in response.results:
                if result.code:
                    out.errors += 1
                    if len(out.error_samples) < 3:
                        out.error_samples.append(f"{result.code}: {result.message}")

    lanes = asyncio.ensure_future(
        asyncio.gather(*(lane(i, items) for i, items in enumerate(plan.lanes)))
    )
    while not lanes.done():  # watchdog: a server that stops delivering is given up on
        await asyncio.wait([lanes], timeout=0.05)
        if not lanes.done() and progress.stuck():
            lanes.cancel()
            out.blocked = f"no frame received for {plan.stall_after:g}s: the server is blocked"
            with contextlib.suppress(asyncio.CancelledError):
                await lanes
    exc = None if out.blocked else lanes.exception()
    if exc is not None:
        out.blocked = f"{type(exc).__name__}: {_rpc_error_text(exc)}"
    return out


def _rpc_error_text(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    details = getattr(exc, "details", None)
    if callable(code) and callable(details):
        return f"{code()} {details()}"
    return str(exc)


@contextlib.asynccontextmanager
async def channel(server: Server) -> Any:
    from grpc import aio

    from gateway.api.v1 import gateway_pb2_grpc as pb_grpc

    options = [
        ("grpc.max_send_message_length", 64 << 20),
        ("grpc.max_receive_message_length", 64 << 20),
    ]
    async with aio.insecure_channel(f"{HOST}:{server.grpc_port}", options=options) as ch:
        yield pb_grpc.NotificationGatewayStub(ch)  # type: ignore[no-untyped-call]


def _everyone() -> pb.Target:
    from gateway.api.v1 import gateway_pb2 as pb

    return pb.Target(everyone=pb.Everyone())


def broadcast_lanes(count: int, lanes: int) -> list[list[tuple[pb.Target, int]]]:
    """Notification i goes on lane i % lanes with seq i // lanes (gap-free per lane)."""
    target = _everyone()
    return [[(target, seq) for seq in range(len(range(p, count, lanes)))] for p in range(lanes)]


async def warm_up(bench: Bench, stub: pb_grpc.NotificationGatewayStub, clients: int) -> None:
    """A few broadcasts so first-call costs stay out of the measurement."""
    await reset_all(bench)
    plan = Plan(broadcast_lanes(20, 1), 10, _pad(100), clients, 0, time.monotonic() + 20, 5.0)
    await publish_batches(bench, stub, plan)
    await wait_received(bench, 20 * clients, time.monotonic() + 20, 5.0)


async def reset_all(bench: Bench) -> None:
    await asyncio.gather(*(rx.call("reset", sample=1000) for rx in bench.receivers))


# --------------------------------------------------------------------------------------
# Scenarios: each runs against one server and returns its metrics
# --------------------------------------------------------------------------------------


async def scenario_broadcast(bench: Bench, server: Server) -> Metrics:
    a = bench.args
    n, k = a.subscribers, a.notifications
    conn = await connect(bench, server, [(f"b{i}", "") for i in range(n)])
    clients = conn["ok"]
    async with channel(server) as stub:
        await warm_up(bench, stub, clients)
        mark = await reset(bench, server, a.sample)
        deadline = time.monotonic() + a.timeout
        plan = Plan(
            broadcast_lanes(k, a.lanes),
            a.batch,
            _pad(a.payload_bytes),
            clients,
            a.window,
            deadline,
            a.stall_after,
        )
        out = await publish_batches(bench, stub, plan)
        complete = await wait_received(bench, k * clients, deadline, a.stall_after)
    rep = await report(bench)
    wall = max(0.0, rep["last_rx"] - out.first_send)
    m: Metrics = {"connections": clients, "connect": conn}
    m["deliveries_per_s"] = rep["frames"] / wall if wall > 0 else 0.0
    m["latency_ms"] = percentiles(rep["lat"])
    wrong = sum(1 for c in rep["counts"] if c != k)
    m["correct"] = (
        complete
        and not wrong
        and rep["order_errors"] == 0
        and not out.errors
        and not out.blocked
        and clients == n
        and rep["bad_samples"] == 0
    )
    m["detail"] = {
        "frames": rep["frames"],
        "expected": k * clients,
        "connections_with_wrong_count": wrong,
        "order_errors": rep["order_errors"],
        "publish_errors": out.errors,
        "publish_error_samples": out.error_samples,
        "blocked": out.blocked,
        "close_codes": rep["close_codes"],
        "unexpected_lost": rep["unexpected_lost"],
    }
    m["cpu"] = cpu_figures(bench, server, mark, rep, wall, f"broadcast/{server.kind}")
    await close_all(bench)
    return m


async def scenario_steady(bench: Bench, server: Server) -> Metrics:
    a = bench.args
    n = a.steady_subscribers
    conn = await connect(bench, server, [(f"s{i}", "") for i in range(n)])
    clients = conn["ok"]
    count = max(1, round(a.steady_rate * a.steady_seconds))
    target = _everyone()
    pad = _pad(a.payload_bytes)
    async with channel(server) as stub:
        await warm_up(bench, stub, clients)
        mark = await reset(bench, server, 1)
        t0 = time.monotonic() + 0.05
        calls: list[asyncio.Future[pb.PublishResponse]] = []
        first_send = time.time()
        for i in range(count):
            delay = t0 + i / a.steady_rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            calls.append(
                asyncio.ensure_future(
                    stub.Publish(_request(target, time.time(), 0, i, pad), timeout=a.timeout)
                )
            )
        results = await asyncio.gather(*calls, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        complete = await wait_received(
            bench, count * clients, time.monotonic() + a.timeout, a.stall_after
        )
    rep = await report(bench)
    wall = max(0.0, rep["last_rx"] - first_send)
    m: Metrics = {"connections": clients, "connect": conn, "published": count}
    m["latency_ms"] = percentiles(rep["lat"])
    wrong = sum(1 for c in rep["counts"] if c != count)
    m["correct"] = complete and not wrong and not errors and rep["order_errors"] == 0
    m["detail"] = {
        "publish_errors": [_rpc_error_text(e) for e in errors[:3]],
        "connections_with_wrong_count": wrong,
        "order_errors": rep["order_errors"],
    }
    m["cpu"] = cpu_figures(bench, server, mark, rep, wall, f"steady/{server.kind}")
    await close_all(bench)
    return m


async def scenario_peruser(bench: Bench, server: Server) -> Metrics:
    from gateway.api.v1 import gateway_pb2 as pb

    a = bench.args
    users, k = a.users, a.user_notifications
    conn = await connect(bench, server, [(f"u{i}", "") for i in range(users)])
    targets = [pb.Target(users=pb.UserIds(user_ids=[f"u{u}"])) for u in range(users)]
    # Notification i goes to user i % users, on the lane that user belongs to, so that each
    # user's notifications come from one lane in order: its seq is i // users.
    lanes: list[list[tuple[pb.Target, int]]] = [[] for _ in range(a.lanes)]
    for i in range(k):
        u = i % users
        lanes[u % a.lanes].append((targets[u], i // users))
    expected = [k // users + (1 if u < k % users else 0) for u in range(users)]
    async with channel(server) as stub:
        mark = await reset(bench, server, 1)
        deadline = time.monotonic() + a.timeout
        plan = Plan(
            lanes, a.user_batch, _pad(a.payload_bytes), 1.0, a.user_window, deadline, a.stall_after
        )
        out = await publish_batches(bench, stub, plan)
        complete = await wait_received(bench, sum(expected), deadline, a.stall_after)
    rep = await report(bench)
    wall = max(0.0, rep["last_rx"] - out.first_send)
    m: Metrics = {"connections": conn["ok"], "connect": conn}
    m["notifications_per_s"] = rep["frames"] / wall if wall > 0 else 0.0
    m["publish_acked_per_s"] = (
        out.sent / (out.last_ack - out.first_send) if out.last_ack > out.first_send else 0.0
    )
    wrong = sum(1 for got, want in zip(rep["counts"], expected, strict=True) if got != want)
    m["correct"] = (
        complete
        and not wrong
        and rep["order_errors"] == 0
        and not out.errors
        and not out.blocked
        and conn["ok"] == users
    )
    m["detail"] = {
        "frames": rep["frames"],
        "expected": sum(expected),
        "users_with_wrong_count": wrong,
        "order_errors": rep["order_errors"],
        "publish_errors": out.errors,
        "publish_error_samples": out.error_samples,
        "blocked": out.blocked,
    }
    m["cpu"] = cpu_figures(bench, server, mark, rep, wall, f"peruser/{server.kind}")
    await close_all(bench)
    return m


async def scenario_idle(bench: Bench, server: Server) -> Metrics:
    a = bench.args
    n = a.idle_connections
    await asyncio.sleep(0.5)
    before = server.rss_kib()
    cpu0 = server.cpu()
    conn = await connect(bench, server, [(f"i{i}", "") for i in range(n)])
    cpu1 = server.cpu()
    await asyncio.sleep(1.0)
    after = server.rss_kib()
    ok = max(1, conn["ok"])
    m: Metrics = {
        "connections": conn["ok"],
        "connect": conn,
        "connect_per_s": conn["rate"],
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_per_conn_kib": (after - before) / ok,
        "connect_server_cpu_s": cpu1 - cpu0,
        "connect_server_busy": (cpu1 - cpu0) / max(conn["seconds"], 1e-9),
    }
    m["connect_load_busiest"] = conn["load_busiest"]
    if conn["load_busiest"] >= SATURATED or m["connect_server_busy"] < 0.7:
        bench.warnings.append(
            f"idle/{server.kind}: while connecting the server was {m['connect_server_busy']:.0%} "
            f"busy and the busiest load process {conn['load_busiest']:.0%}: the connect rate is "
            "limited by the load client"
        )
    m["correct"] = conn["ok"] == n
    if a.idle_hold > 0:
        print(f"    holding {conn['ok']} connections to pid {server.pid} for {a.idle_hold:g}s",
              flush=True)  # fmt: skip
        await asyncio.sleep(a.idle_hold)
    await close_all(bench)
    return m


async def scenario_slow(bench: Bench, server: Server) -> Metrics:
    a = bench.args
    n, k = a.slow_clients, a.slow_notifications
    conn = await connect(bench, server, [(f"w{i}", "") for i in range(n)])
    clients = conn["ok"]
    await bench.receivers[0].call("stall", index=0)  # global connection 0: it stops reading
    rss_before = server.rss_kib()
    rss_peak = rss_before
    sampling = True

    async def sample_rss() -> None:
        nonlocal rss_peak
        while sampling:
            rss_peak = max(rss_peak, server.rss_kib())
            await asyncio.sleep(0.1)

    sampler = asyncio.ensure_future(sample_rss())
    async with channel(server) as stub:
        mark = await reset(bench, server, a.sample)
        deadline = time.monotonic() + a.slow_timeout
        plan = Plan(
            broadcast_lanes(k, 1),
            a.slow_batch,
            _pad(a.slow_payload_bytes),
            clients,
            a.window,
            deadline,
            a.stall_after,
        )
        out = await publish_batches(bench, stub, plan)
        healthy = clients - 1
        others_done = await wait_received(bench, k * healthy, deadline, a.stall_after)
        gave_up = time.time()
    rep = await report(bench)
    sampling = False
    await sampler
    resumed = await bench.receivers[0].call("resume", wait=30, index=0, wait_close=10.0)
    counts = rep["counts"]
    others = counts[1:]
    others_frames = sum(others)
    # A blocked run is measured until it was given up on, not until its last frame.
    wall = max(0.0, (rep["last_rx"] if others_done else gave_up) - out.first_send)
    m: Metrics = {"connections": clients, "connect": conn}
    m["others_deliveries_per_s"] = others_frames / wall if wall > 0 else 0.0
    m["others_complete"] = others_done and all(c == k for c in others)
    m["others_received"] = f"{others_frames}/{k * healthy}"
    m["others_received_pct"] = 100.0 * others_frames / max(1, k * healthy)
    m["stalled_received_before_resume"] = counts[0] if counts else 0
    m["stalled_close_code"] = resumed["close_code"]
    m["stalled_result"] = resumed
    m["rss_growth_mib"] = (rss_peak - rss_before) / 1024
    m["publish_blocked"] = out.blocked
    m["close_codes_seen"] = rep["close_codes"]
    m["cpu"] = cpu_figures(bench, server, mark, rep, wall, f"slow/{server.kind}")
    await close_all(bench)
    return m


SCENARIO_FUNCS: dict[str, Callable[[Bench, Server], Awaitable[Metrics]]] = {
    "broadcast": scenario_broadcast,
    "steady": scenario_steady,
    "peruser": scenario_peruser,
    "idle": scenario_idle,
    "slow": scenario_slow,
}


def scenario_title(name: str, a: argparse.Namespace) -> str:
    return {
        "broadcast": f"1. broadcast fan-out: {a.subscribers} subscribers x {a.notifications} "
        f"notifications ({a.payload_bytes}-byte data), PublishBatch {a.batch} x {a.lanes} lanes, "
        f"window {a.window}",
        "steady": f"2. latency at steady load: {a.steady_subscribers} subscribers, "
        f"{a.steady_rate:g}/s for {a.steady_seconds:g}s (unary Publish)",
        "peruser": f"3. per-user volume: {a.users} users, {a.user_notifications} notifications "
        f"one user each, PublishBatch {a.user_batch} x {a.lanes} lanes",
        "idle": f"4. idle cost: {a.idle_connections} connections held",
        "slow": f"5. slow consumer: {a.slow_clients} clients, one stalled, {a.slow_notifications} "
        f"broadcasts of {a.slow_payload_bytes} bytes, bounded at {a.slow_timeout:g}s",
    }[name]


async def run_scenario(bench: Bench, name: str) -> dict[str, Any]:
    """Every server, `--repeat` times (alternating); the figures are the runs' medians."""
    print(f"\n== {scenario_title(name, bench.args)} ==", flush=True)
    runs: dict[str, list[Metrics]] = {kind: [] for kind in bench.args.servers}
    for _ in range(bench.args.repeat):
        for kind in bench.args.servers:
            runs[kind].append(await run_once(bench, name, kind))
    results: dict[str, Any] = {kind: combine(ms) for kind, ms in runs.items()}
    if bench.args.repeat > 1:
        for kind in bench.args.servers:
            print_scenario_line(name, f"{kind} (median of {bench.args.repeat})", results[kind])
        results["runs"] = runs
    return results


async def run_once(bench: Bench, name: str, kind: str) -> Metrics:
    t0 = time.monotonic()
    try:
        server = await start_server(bench, kind, name)
    except Exception as exc:
        print(f"  {kind}: did not start: {exc}", flush=True)
        return {"error": f"did not start: {exc}"}
    print(
        f"  {kind}: pid {server.pid}, http {server.http_port}, grpc {server.grpc_port}",
        flush=True,
    )
    try:
        metrics = await SCENARIO_FUNCS[name](bench, server)
    except Exception as exc:
        traceback.print_exc()
        metrics = {"error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(Exception):
            await close_all(bench)
    metrics["server_alive"] = server.proc.returncode is None
    await stop_server(server)
    metrics["server_log"] = server_log_issues(server)
    if not metrics["server_alive"]:
        bench.warnings.append(
            f"{name}/{kind}: the server DIED during the run (see {server.log_path})"
        )
    if metrics["server_log"]["error_lines"]:
        bench.warnings.append(
            f"{name}/{kind}: {metrics['server_log']['error_lines']} error lines in "
            f"{server.log_path}: {metrics['server_log']['first_error'][:300]}"
        )
    metrics["seconds"] = time.monotonic() - t0
    print_scenario_line(name, kind, metrics)
    return metrics


def combine(runs: list[Metrics]) -> Metrics:
    """One metrics dict from several runs: numbers → median, flags → all, else as-is/list."""
    if len(runs) == 1:
        return runs[0]
    out: Metrics = {}
    for key in dict.fromkeys(k for r in runs for k in r):
        values = [r.get(key) for r in runs]
        if all(isinstance(v, dict) for v in values):
            out[key] = combine(values)  # type: ignore[arg-type]
        elif all(isinstance(v, bool) for v in values):
            out[key] = all(values)
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            out[key] = statistics.median(values)  # type: ignore[type-var]
        elif all(v == values[0] for v in values):
            out[key] = values[0]
        else:
            out[key] = values
    return out


# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------


def _get(metrics: Metrics | None, path: str) -> Any:
    value: Any = metrics
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def print_scenario_line(name: str, kind: str, m: Metrics) -> None:
    if "error" in m:
        print(f"  {kind}: ERROR {m['error']}", flush=True)
        return
    parts: list[str] = []
    for label, path, fmt in FIGURE_LINES[name]:
        value = _get(m, path)
        parts.append(f"{label} {_fmt(value, fmt)}")
    cpu = m.get("cpu")
    if cpu:
        parts.append(
            f"cpu server {cpu['server_cpu_s']:.1f}s ({cpu['server_busy']:.0%}) "
            f"load {cpu['load_cpu_s']:.1f}s (busiest {cpu['load_busiest_proc']:.0%}) "
            f"wall {cpu['wall_s']:.2f}s"
        )
    print(f"  {kind}: " + "; ".join(parts), flush=True)


FIGURE_LINES: dict[str, list[tuple[str, str, str]]] = {
    "broadcast": [
        ("deliveries/s", "deliveries_per_s", "int"),
        ("p50", "latency_ms.p50", "ms"),
        ("p99", "latency_ms.p99", "ms"),
        ("correct", "correct", "ok"),
    ],
    "steady": [
        ("p50", "latency_ms.p50", "ms"),
        ("p99", "latency_ms.p99", "ms"),
        ("max", "latency_ms.max", "ms"),
        ("correct", "correct", "ok"),
    ],
    "peruser": [
        ("notifications/s", "notifications_per_s", "int"),
        ("acked/s", "publish_acked_per_s", "int"),
        ("correct", "correct", "ok"),
    ],
    "idle": [
        ("connections", "connections", "int"),
        ("connect/s", "connect_per_s", "int"),
        ("RSS/conn", "rss_per_conn_kib", "kib"),
        ("server busy while connecting", "connect_server_busy", "pct1"),
        ("busiest load process", "connect_load_busiest", "pct1"),
    ],
    "slow": [
        ("others deliveries/s", "others_deliveries_per_s", "int"),
        ("others complete", "others_complete", "yesno"),
        ("stalled close code", "stalled_close_code", "code"),
        ("RSS growth", "rss_growth_mib", "mib"),
        ("publish", "publish_blocked", "blocked"),
    ],
}


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return "n/a" if fmt != "code" else "none"
    if fmt == "int":
        return f"{value:,.0f}"
    if fmt == "ms":
        return f"{value:.2f} ms"
    if fmt == "kib":
        return f"{value:.1f} KiB"
    if fmt == "pct1":
        return f"{value:.0%}"
    if fmt == "pct":
        return f"{value:.1f}%"
    if fmt == "mib":
        return f"{value:.1f} MiB"
    if fmt == "ok":
        return "OK" if value else "FAIL"
    if fmt == "yesno":
        return "yes" if value else "no"
    if fmt == "blocked":
        return f"BLOCKED ({value[:60]})" if value else "completed"
    return str(value)


@dataclass
class Figure:
    scenario: str
    label: str
    path: str
    fmt: str
    better: str  # "higher", "lower" or ""
    #: (description, check(gateway metrics, baseline metrics) -> bool | None)
    target: tuple[str, Callable[[Metrics | None, Metrics | None], bool | None]] | None = None


def _ratio_at_least(
    path: str, factor: float
) -> Callable[[Metrics | None, Metrics | None], bool | None]:
    def check(g: Metrics | None, b: Metrics | None) -> bool | None:
        gv, bv = _get(g, path), _get(b, path)
        if gv is None or not bv:
            return None
        return bool(gv >= factor * bv)

    return check


def _gateway(
    path: str, test: Callable[[Any], bool]
) -> Callable[[Metrics | None, Metrics | None], bool | None]:
    def check(g: Metrics | None, b: Metrics | None) -> bool | None:
        value = _get(g, path)
        if value is None:  # not measured, except a missing close code: never closed
            return False if path == "stalled_close_code" else None
        return bool(test(value))

    return check


def figures(a: argparse.Namespace) -> list[Figure]:
    idle_note = "" if a.idle_connections >= 20_000 else f" (measured at {a.idle_connections})"
    return [
        Figure(
            "broadcast",
            "broadcast deliveries/s",
            "deliveries_per_s",
            "int",
            "higher",
            (">= 5x baseline", _ratio_at_least("deliveries_per_s", 5.0)),
        ),
        Figure("broadcast", "broadcast latency p50", "latency_ms.p50", "ms", "lower"),
        Figure("broadcast", "broadcast latency p99", "latency_ms.p99", "ms", "lower"),
        Figure(
            "broadcast",
            "broadcast correct",
            "correct",
            "ok",
            "",
            ("every client, all, in order", _gateway("correct", bool)),
        ),
        Figure(
            "steady",
            f"steady {a.steady_rate:g}/s x {a.steady_subscribers} p50",
            "latency_ms.p50",
            "ms",
            "lower",
        ),
        Figure(
            "steady",
            f"steady {a.steady_rate:g}/s x {a.steady_subscribers} p99",
            "latency_ms.p99",
            "ms",
            "lower",
            ("<= 5 ms", _gateway("latency_ms.p99", lambda v: v <= 5.0)),
        ),
        Figure(
            "steady",
            f"steady {a.steady_rate:g}/s x {a.steady_subscribers} max",
            "latency_ms.max",
            "ms",
            "lower",
        ),
        Figure(
            "peruser",
            "per-user notifications/s",
            "notifications_per_s",
            "int",
            "higher",
            (">= 100,000/s", _gateway("notifications_per_s", lambda v: v >= 100_000)),
        ),
        Figure(
            "peruser",
            "per-user correct",
            "correct",
            "ok",
            "",
            ("every user, all, in order", _gateway("correct", bool)),
        ),
        Figure(
            "idle",
            "idle RSS per connection",
            "rss_per_conn_kib",
            "kib",
            "lower",
            (f"<= 16 KiB{idle_note}", _gateway("rss_per_conn_kib", lambda v: v <= 16.0)),
        ),
        Figure(
            "idle",
            "connect rate /s",
            "connect_per_s",
            "int",
            "higher",
            (">= 5,000/s", _gateway("connect_per_s", lambda v: v >= 5_000)),
        ),
        Figure("slow", "slow: others deliveries/s", "others_deliveries_per_s", "int", "higher"),
        Figure(
            "slow",
            "slow: others received %",
            "others_received_pct",
            "pct",
            "higher",
        ),
        Figure(
            "slow",
            "slow: others got everything",
            "others_complete",
            "yesno",
            "",
            ("yes", _gateway("others_complete", bool)),
        ),
        Figure(
            "slow",
            "slow: stalled client close code",
            "stalled_close_code",
            "code",
            "",
            ("4008", _gateway("stalled_close_code", lambda v: v == 4008)),
        ),
        Figure(
            "slow",
            "slow: server RSS growth",
            "rss_growth_mib",
            "mib",
            "lower",
            ("< 256 MiB", _gateway("rss_growth_mib", lambda v: v < 256)),
        ),
    ]


def summary(a: argparse.Namespace, results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for fig in figures(a):
        if fig.scenario not in results:
            continue
        g = results[fig.scenario].get("gateway")
        b = results[fig.scenario].get("baseline")
        gv, bv = _get(g, fig.path), _get(b, fig.path)
        ratio = None
        if fig.better and isinstance(gv, int | float) and isinstance(bv, int | float) and bv:
            ratio = gv / bv
        verdict = None
        if fig.target is not None and g is not None and "error" not in g:
            verdict = fig.target[1](g, b)
        rows.append(
            {
                "figure": fig.label,
                "gateway": gv,
                "baseline": bv,
                "ratio": ratio,
                "better": fig.better,
                "target": fig.target[0] if fig.target else "",
                "pass": verdict,
                "fmt": fig.fmt,
            }
        )
    return rows


def print_summary(rows: list[dict[str, Any]]) -> None:
    header = ("figure", "gateway", "baseline", "ratio g/b", "target", "")
    table = [header]
    for r in rows:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        if r["ratio"] is not None and r["better"]:
            ratio += " (higher better)" if r["better"] == "higher" else " (lower better)"
        verdict = {True: "PASS", False: "FAIL", None: ""}[r["pass"]]
        if r["target"] and r["pass"] is None:
            verdict = "n/a"
        table.append(
            (
                r["figure"],
                _fmt(r["gateway"], r["fmt"]),
                _fmt(r["baseline"], r["fmt"]),
                ratio,
                r["target"],
                verdict,
            )
        )
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    print("\n== summary ==")
    for i, row in enumerate(table):
        print(" | ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("-+-".join("-" * w for w in widths))


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

#: flag: (full default, --quick default)
SIZES: dict[str, tuple[Any, Any]] = {
    "subscribers": (1000, 200),
    "notifications": (2000, 2000),
    "payload_bytes": (100, 100),
    "batch": (100, 50),
    "lanes": (2, 2),
    "window": (500, 200),
    "sample": (10, 10),
    "steady_subscribers": (1000, 200),
    "steady_rate": (50.0, 50.0),
    "steady_seconds": (5.0, 2.0),
    "users": (10_000, 1000),
    "user_notifications": (100_000, 10_000),
    "user_batch": (1000, 1000),
    "user_window": (10_000, 5000),
    "idle_connections": (20_000, 2000),
    "slow_clients": (200, 50),
    "slow_notifications": (3000, 2500),
    "slow_payload_bytes": (4096, 4096),
    "slow_batch": (20, 20),
    "slow_timeout": (30.0, 10.0),
    "stall_after": (5.0, 3.0),
    "timeout": (180.0, 30.0),
    "procs": (2, 2),
    "connect_concurrency": (200, 200),
}

_HELP = {
    "subscribers": "broadcast: WebSocket subscribers",
    "notifications": "broadcast: notifications to everyone",
    "payload_bytes": "size of each notification's data (JSON) in bytes",
    "batch": "broadcast: items per PublishBatch call",
    "lanes": "concurrent publishers (each sends its batches in order)",
    "window": "broadcast/slow: notifications in flight at most (0 = unbounded)",
    "sample": "read the timestamp of every N-th frame (1 = every frame)",
    "steady_subscribers": "steady: subscribers",
    "steady_rate": "steady: notifications per second",
    "steady_seconds": "steady: how long",
    "users": "per-user: connected users (one connection each)",
    "user_notifications": "per-user: notifications, each to one user (users cycle)",
    "user_batch": "per-user: items per PublishBatch call (at most 1000)",
    "user_window": "per-user: notifications in flight at most (0 = unbounded)",
    "idle_connections": "idle: connections held (capped by the open-files limit)",
    "slow_clients": "slow: clients (one of them stops reading)",
    "slow_notifications": "slow: broadcasts published",
    "slow_payload_bytes": "slow: data bytes per broadcast",
    "slow_batch": "slow: items per PublishBatch call",
    "slow_timeout": "slow: seconds to wait at most (the baseline may block)",
    "stall_after": "give up after this many seconds without any frame received",
    "timeout": "seconds a measurement may take at most",
    "procs": "load-client receiver processes",
    "connect_concurrency": "handshakes in flight per receiver process",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--quick", action="store_true", help="everything small (< 1 minute)")
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("bench-results.json"),
        help="write the results here (default bench-results.json)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help="comma-separated subset of gateway,baseline"
    )
    parser.add_argument(
        "--gateway-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra flag for `python -m gateway` (repeat), "
        "e.g. --gateway-arg=--send-buffer-bytes=4194304",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="record each gateway run with py-spy (raw stacks) into DIR",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the server logs")
    parser.add_argument(
        "--idle-hold",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="idle: hold the connections this long after measuring (to inspect the server)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each scenario N times, alternating servers; report medians (default 1)",
    )
    for name, (full, quick) in SIZES.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=type(full),
            default=None,
            help=f"{_HELP[name]} (default {full}; quick {quick})",
        )
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--http-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--grpc-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, (full, quick) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in args.scenarios:
        if s not in SCENARIOS:
            parser.error(f"unknown scenario {s!r}; choose from {', '.join(SCENARIOS)}")
    for s in args.servers:
        if s not in SERVERS:
            parser.error(f"unknown server {s!r}; choose from {', '.join(SERVERS)}")
    if not 1 <= args.user_batch <= 1000 or not 1 <= args.batch <= 1000:
        parser.error("batches hold 1 to 1000 items")
    args.lanes = max(1, args.lanes)
    args.repeat = max(1, args.repeat)
    args.procs = max(1, args.procs)
    return args


def raise_nofile(bench_warnings: list[str], args: argparse.Namespace) -> None:
    """Soft open-files limit up to the hard one; cap the idle scenario to what fits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    # The server holds one descriptor per connection, plus its own (listeners, gRPC, logs).
    room = soft - 256
    sizes = {
        "idle": args.idle_connections,
        "peruser": args.users,
        "broadcast": args.subscribers,
        "steady": args.steady_subscribers,
        "slow": args.slow_clients,
    }
    biggest = max(n for name, n in sizes.items() if name in args.scenarios)
    if biggest > room:
        bench_warnings.append(
            f"open-files limit is {soft} (raise the hard limit with `ulimit -Hn` as root): "
            f"scenarios capped at {room} connections instead of {biggest}"
        )
        args.idle_connections = min(args.idle_connections, room)
        args.users = min(args.users, room)
        args.subscribers = min(args.subscribers, room)
        args.steady_subscribers = min(args.steady_subscribers, room)
        args.slow_clients = min(args.slow_clients, room)


def meta(args: argparse.Namespace) -> dict[str, Any]:
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "uvloop": _uvloop_factory() is not None,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
        "args": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("serve_baseline", "http_port", "grpc_port")
        },
    }


async def main_async(args: argparse.Namespace) -> int:
    warnings: list[str] = []
    raise_nofile(warnings, args)
    if args.py_spy is not None:
        if shutil.which("py-spy") is None:
            print("--py-spy: py-spy is not on PATH (pip install py-spy)", file=sys.stderr)
            return 2
        args.py_spy.mkdir(parents=True, exist_ok=True)
    if _uvloop_factory() is None:
        warnings.append("uvloop is not installed: the load client runs on the default loop")
    info = meta(args)
    log_dir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    print(
        f"bench: {info['cpus']} CPUs, load average {info['loadavg_at_start'][0]:.2f}, "
        f"uvloop {info['uvloop']}, {args.procs} receiver processes, logs in {log_dir}",
        flush=True,
    )
    ctx = mp.get_context("spawn")  # never fork a process that has started gRPC threads
    receivers = [ReceiverHandle(ctx, i) for i in range(args.procs)]
    bench = Bench(args, receivers, log_dir, warnings)
    results: dict[str, dict[str, Any]] = {}
    t0 = time.monotonic()
    try:
        for name in args.scenarios:
            results[name] = await run_scenario(bench, name)
    finally:
        for rx in receivers:
            with contextlib.suppress(Exception):
                await rx.call("exit", wait=10)
            rx.stop()
    rows = summary(args, results)
    print_summary(rows)
    if bench.warnings:
        print("\nwarnings:")
        for w in bench.warnings:
            print(f"  ! {w}")
    print(f"\ntotal {time.monotonic() - t0:.0f}s; results in {args.json}")
    payload = {"meta": info, "warnings": bench.warnings, "summary": rows, "scenarios": results}
    args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if not args.keep_logs:
        shutil.rmtree(log_dir, ignore_errors=True)
    failed = any(r["pass"] is False for r in rows)
    return 1 if failed else 0


def main() -> int:
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # no gRPC core INFO lines in the table
    args = parse_args()
    if args.serve_baseline:
        baseline_serve(args.http_port, args.grpc_port)
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
