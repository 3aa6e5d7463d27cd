"""A load-client process and the parent's handle on it.

`Receiver` runs in a child process (spawned, on uvloop when installed): it holds many
`WsClient` connections and obeys commands that arrive over a pipe: connect, reset, stall,
report, resume, close, exit. `ReceiverHandle` is the parent's side: it starts the process
and turns each command into an awaitable request/reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import time
import traceback
from multiprocessing.connection import Connection as PipeEnd
from typing import Any

from . import HOST, uvloop_factory
from .sseclient import SseClient, sse_request
from .wsclient import ACK_SECONDS, Tally, WsClient, acks_due, kernel_cpu, upgrade_request

#: Loopback addresses the connections come from, in turn. From one address, every connect()
#: searches the ephemeral ports already taken towards the server's port: at 15,000 open
#: connections that search cost the load client ~300 us per connect, while real clients
#: arrive from many addresses. The whole of 127.0.0.0/8 is loopback on Linux.
SOURCE_ADDRESSES = [f"127.0.{a}.{b}" for a in range(1, 3) for b in range(1, 255)]


class Receiver:
    """A child process's command loop: connect, reset, stall, report, close (over a pipe)."""

    def __init__(self, pipe: PipeEnd, shared: Any) -> None:
        self.pipe = pipe
        self.tally = Tally(shared)
        self.clients: list[WsClient] = []
        #: Receipts: the sweep that sends trailing acks as the SDKs' timers would.
        self._ack_timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._done: asyncio.Future[None] | None = None

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
        self,
        port: int,
        specs: list[tuple[str, str]],
        concurrency: int,
        budget: float,
        welcome: bool = True,
        transport: str = "ws",
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)
        errors: dict[str, int] = {}
        first = len(self.clients)
        if transport == "sse":
            clients: list[WsClient] = [
                SseClient(self.tally, sse_request(HOST, port, u, t), welcome) for u, t in specs
            ]
        else:
            clients = [
                WsClient(self.tally, upgrade_request(HOST, port, u, t), welcome) for u, t in specs
            ]
        self.clients.extend(clients)
        deadline = loop.time() + budget

        async def one(client: WsClient, index: int) -> bool:
            source = SOURCE_ADDRESSES[index % len(SOURCE_ADDRESSES)]
            async with gate:
                try:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise TimeoutError("connect phase timed out")
                    async with asyncio.timeout(remaining):
                        await loop.create_connection(
                            lambda: client, HOST, port, local_addr=(source, 0)
                        )
                        await client.ready
                    return True
                except (OSError, TimeoutError) as exc:
                    key = f"{type(exc).__name__}: {exc}"[:160]
                    errors[key] = errors.get(key, 0) + 1
                    if client.transport is not None:
                        client.transport.abort()
                    return False

        t0, cpu0 = time.time(), time.process_time()
        ok = sum(await asyncio.gather(*(one(c, first + i) for i, c in enumerate(clients))))
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
        self.tally.sample = max(1, sample)
        self.tally.reset()
        for client in self.clients:
            client.count = 0
            client.last = []

    async def cmd_acks(self, on: bool, seconds: float = ACK_SECONDS) -> None:
        """Receipts: every connection acks what it receives as the SDKs do (at once when it
        sent no ack in the last `seconds`, else `seconds` after its last ack), or stops."""
        for client in self.clients:
            client.acks = on
            client.ack_seconds = seconds
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        if on:
            self._ack_timer = asyncio.create_task(self._acks_due())

    async def _acks_due(self) -> None:
        """The SDKs' per-connection trailing-ack timer, as one sweep every 50 ms for them
        all (a trailing ack goes out up to 50 ms late; the C client's are exact)."""
        while True:
            await asyncio.sleep(0.05)
            acks_due(self.clients)

    async def cmd_flush_acks(self) -> int:
        """Send every connection's owed ack now (the SDKs' timer would, up to a second
        later); the ack frames sent since the last reset, these included."""
        for client in self.clients:
            client.ack()
        return self.tally.acks_sent

    async def cmd_stall(self, index: int) -> None:
        client = self.clients[index]
        client.stalled = True
        if client.transport is not None:
            client.transport.pause_reading()

    async def cmd_report(self) -> dict[str, Any]:
        tally = self.tally
        return {
            "counts": [c.count for c in self.clients],
            "frames": tally.frames,
            "first_rx": tally.first_rx,
            "last_rx": tally.last_rx,
            "lat": tally.lat,
            "order_errors": tally.order_errors,
            "bad_samples": tally.bad_samples,
            "unexpected_lost": tally.unexpected_lost,
            "acks_sent": tally.acks_sent,
            "close_codes": tally.close_codes,
            "cpu": time.process_time() - tally.cpu_mark,
            "sys": kernel_cpu() - tally.sys_mark,
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


def receiver_main(pipe: PipeEnd, shared: Any) -> None:
    """Entry point of a load-client process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us with "exit"
    with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
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
