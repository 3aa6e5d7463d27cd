"""One connection of the load client: a lean WebSocket reader, and the tally it counts into.

`WsClient` is an asyncio Protocol that does the upgrade handshake itself, parses only
frame headers, answers pings and close frames, and reads the timestamp, lane and sequence
number (payload.py) out of every `sample`-th notification frame.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any, cast

#: Per receiver process: latency samples kept (the rest are counted, not stored).
MAX_SAMPLES = 2_000_000

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
#: How the load client acks when asked to (receipts), as the SDKs do by default.
ACK_EVERY = 100
ACK_SECONDS = 1.0


def acks_due(clients: list[WsClient]) -> None:
    """The SDKs' trailing ack for a receiver's connections: what a connection owes goes
    out `ack_seconds` after its last ack (called every 50 ms)."""
    mono = time.monotonic()
    for client in clients:
        if client.owed and client.last_ack + client.ack_seconds <= mono:
            client.ack()


def kernel_cpu() -> float:
    """This process's CPU seconds in the kernel (most of a receiver's: reads, wakeups)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def upgrade_request(host: str, port: int, user_id: str, topics: str) -> bytes:
    """The HTTP upgrade request for `/ws?user_id=...[&topics=...]`."""
    path = f"/ws?user_id={user_id}" + (f"&topics={topics}" if topics else "")
    return _HANDSHAKE.format(path=path, host=host, port=port).encode()


class Tally:
    """What every connection of one receiver process counts into, since the last reset."""

    def __init__(self, shared: Any) -> None:
        #: Notification frames received, readable by the parent (a shared RawValue).
        self.shared = shared
        self.sample = 10
        self.reset()

    def reset(self) -> None:
        self.frames = 0
        self.first_rx = 0.0
        self.last_rx = 0.0
        self.lat: list[float] = []
        self.order_errors = 0
        self.bad_samples = 0
        self.unexpected_lost = 0
        #: Ack frames sent (receipts): how many notifications each covered, on average.
        self.acks_sent = 0
        self.close_codes: dict[int, int] = {}
        self.cpu_mark = time.process_time()
        self.sys_mark = kernel_cpu()
        self.shared.value = 0


class WsClient(asyncio.Protocol):
    """One connection: handshake, then frame headers only; every `sample`-th frame is read.

    The first text frame is the server's welcome (the connection is then registered);
    every later text frame is counted as a notification.
    """

    #: The status of the response head that opens the stream (SSE: 200).
    ACCEPTED = "101"

    def __init__(self, tally: Tally, request: bytes, welcome: bool = True) -> None:
        self.tally = tally
        self.request = request
        #: False for a server that sends no welcome (nchan): ready at the 101.
        self.welcome = welcome
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
        #: Receipts: ack like the SDKs do (cumulative; at once when this connection sent
        #: no ack in the last `ack_seconds`, else `ack_seconds` after its last ack, or at
        #: once when ACK_EVERY are owed).
        self.acks = False
        self.ack_seconds = ACK_SECONDS
        self._owed: bytes | None = None
        self._owed_count = 0
        #: When this connection last sent an ack (monotonic; 0: never).
        self.last_ack = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost before welcome: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)
        if self.upgraded and self.close_code is None and not self.closing:
            self.tally.unexpected_lost += 1

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
        tally = self.tally
        now = time.time()
        buf = self.buf + data if self.buf else data
        size = len(buf)
        pos = 0
        count = self.count
        sample = tally.sample
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
                    if self.acks:
                        self._owe(buf, start, end)
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
            tally.frames += got
            tally.shared.value += got
            tally.last_rx = now
            if not tally.first_rx:
                tally.first_rx = now

    def _owe(self, buf: bytes, start: int, end: int) -> None:
        i = buf.find(b'"cursor":"', start, end)
        if i >= 0:
            i += 10
            self._owed = buf[i : buf.find(b'"', i, end)]
            self._owed_count += 1
            # the SDKs' leading edge; else the receiver's sweep sends it (acks_due)
            if (
                self._owed_count >= ACK_EVERY
                or time.monotonic() - self.last_ack >= self.ack_seconds
            ):
                self.ack()

    @property
    def owed(self) -> bool:
        return self._owed is not None

    def ack(self) -> None:
        """Send the owed ack (a masked text frame with a zero key), if any."""
        owed, self._owed = self._owed, None
        self._owed_count = 0
        if owed is None or self.transport is None or self.transport.is_closing():
            return
        payload = b'{"op":"ack","cursor":"' + owed + b'"}'
        self.last_ack = time.monotonic()
        self.tally.acks_sent += 1
        self.transport.write(bytes((0x81, 0x80 | len(payload))) + _ZERO_MASK + payload)

    def _handshake(self, data: bytes) -> bytes:
        buf = self.buf + data
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buf) > 65_536:
                self._fail("oversized HTTP response")
            self.buf = buf
            return b""
        status = buf[: buf.find(b"\r\n")].decode("latin-1")
        if status.split(" ")[1:2] != [self.ACCEPTED]:
            body = buf[head_end + 4 : head_end + 200].decode("utf-8", "replace")
            self._fail(f"{status} {body}".strip())
            return b""
        self.upgraded = True
        self._accepted()
        self.buf = b""
        return buf[head_end + 4 :]

    def _accepted(self) -> None:
        """The response head was read: ready now, unless the welcome is awaited."""
        if not self.welcome and not self.ready.done():
            self.ready.set_result(None)

    def _sample(self, buf: bytes, start: int, end: int, now: float) -> None:
        tally = self.tally
        i = buf.find(b'"ts":', start, end)
        if i < 0:
            tally.bad_samples += 1
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
            tally.bad_samples += 1
            return
        if len(tally.lat) < MAX_SAMPLES:
            tally.lat.append((now - ts) * 1000.0)
        last = self.last
        if lane >= len(last):
            last.extend([-1] * (lane + 1 - len(last)))
        # Every frame sampled: each lane's sequence must be gap-free; otherwise increasing.
        if (seq != last[lane] + 1) if tally.sample == 1 else (seq <= last[lane]):
            tally.order_errors += 1
        last[lane] = seq

    def _on_close(self, payload: bytes) -> None:
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        self.close_code = code
        self.tally.close_codes[code] = self.tally.close_codes.get(code, 0) + 1
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(bytes((0x88, 0x82)) + _ZERO_MASK + code.to_bytes(2, "big"))
            self.transport.close()
        if not self.closed.done():
            self.closed.set_result(None)
