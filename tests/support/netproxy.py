"""A real TCP proxy on a free port, for tests that need a network fault on one link.

`cut()` aborts every connection through it (the peer sees the TCP connection end, no
close frame: WebSocket 1006); `reset()` resets them (RST, not FIN: what a proxy or load
balancer in the path that restarts sends to connections idle at the time); `freeze()`
stops forwarding on the current connections but keeps them open (a half-dead link that
only a liveness check notices). New connections are forwarded normally either way.
`delay` holds every chunk that long before passing it on, in order (a slow link: what
crosses it arrives late, nothing is lost).

With `strip_upgrade=True` it is the proxy some corporate networks run: it drops the
`Upgrade` header (and `Upgrade` from `Connection`) of every request head it forwards, so a
WebSocket handshake reaches the server as a plain GET (426) while plain HTTP, SSE
included, passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading

_UPGRADE_LINE = re.compile(rb"\r\nUpgrade:[^\r]*", re.IGNORECASE)
_CONNECTION_UPGRADE = re.compile(rb"(\r\nConnection:[^\r]*?)\bUpgrade\b", re.IGNORECASE)


class TcpProxy:
    def __init__(
        self, target_port: int, delay: float = 0.0, *, strip_upgrade: bool = False
    ) -> None:
        self.target_port = target_port
        self.delay = delay
        self.strip_upgrade = strip_upgrade
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter, asyncio.Event]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.connections += 1
        frozen = asyncio.Event()
        self._links.append((writer, up_writer, frozen))
        for src, dst, up in ((reader, up_writer, True), (up_reader, writer, False)):
            task = asyncio.create_task(self._pipe(src, dst, frozen, up and self.strip_upgrade))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        frozen: asyncio.Event,
        strip: bool = False,
    ) -> None:
        late: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        passing = asyncio.create_task(self._pass_late(late, dst)) if self.delay else None
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await src.read(65536):
                if frozen.is_set():
                    continue  # swallowed: the link looks alive and says nothing
                if strip and b"\r\n\r\n" in data:  # a request head (test clients send one whole)
                    data = _CONNECTION_UPGRADE.sub(rb"\1keep-alive", _UPGRADE_LINE.sub(b"", data))
                if passing is not None:
                    late.put_nowait((asyncio.get_running_loop().time() + self.delay, data))
                    continue
                dst.write(data)
                await dst.drain()
        if passing is not None:
            passing.cancel()
        if not frozen.is_set():
            dst.close()

    @staticmethod
    async def _pass_late(
        late: asyncio.Queue[tuple[float, bytes]], dst: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while True:
                due, data = await late.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                dst.write(data)
                await dst.drain()

    def cut(self) -> None:
        for client, upstream, _ in self._links:
            client.transport.abort()
            upstream.transport.abort()
        self._links.clear()

    def reset(self) -> None:
        """Reset every client's connection (SO_LINGER 0, then close: an RST, no FIN); the
        upstream side is just closed."""
        for client, upstream, _ in self._links:
            sock = client.transport.get_extra_info("socket")
            if sock is not None and sock.fileno() != -1:  # not already ended
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.transport.abort()
            upstream.transport.abort()
        self._links.clear()

    def freeze(self) -> None:
        for _, _, frozen in self._links:
            frozen.set()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class ProxyThread:
    """A `TcpProxy` on its own event loop in a thread, for synchronous tests (Selenium's)."""

    def __init__(self, target_port: int, *, strip_upgrade: bool = False) -> None:
        self._proxy = TcpProxy(target_port, strip_upgrade=strip_upgrade)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._proxy.port

    def __enter__(self) -> ProxyThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._proxy.start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._proxy.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
