"""The load client's SSE stream: `GET /sse` read as events, counted like WebSocket frames.

`SseClient` is a `WsClient` (wsclient.py) whose bytes are an event stream: the first event
is the welcome, every later `notification` event is counted, and every `sample`-th one has
its timestamp, lane and sequence number read out of its `data:` line, as for WebSocket.
The final `close` event records its code. `--transport sse` makes the scenarios connect these.
"""

from __future__ import annotations

import time

from .wsclient import WsClient

__all__ = ["SseClient", "sse_request"]

_REQUEST = "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n"
_NOTIFICATION = b"event: notification\n"
_CLOSE = b"event: close\n"


def sse_request(host: str, port: int, user_id: str, topics: str) -> bytes:
    """The request head for `/sse?user_id=...[&topics=...]`."""
    path = f"/sse?user_id={user_id}" + (f"&topics={topics}" if topics else "")
    return _REQUEST.format(path=path, host=host, port=port).encode()


class SseClient(WsClient):
    """One SSE stream of the load client (acks are not sent: SSE posts them elsewhere)."""

    ACCEPTED = "200"

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            data = self._handshake(data)
            if not data:
                return
        tally = self.tally
        now = time.time()
        buf = self.buf + data if self.buf else data
        pos = 0
        count = self.count
        sample = tally.sample
        while True:
            end = buf.find(b"\n\n", pos)
            if end < 0:
                break
            start, pos = pos, end + 2
            if buf.find(_NOTIFICATION, start, end) >= 0:
                count += 1
                if count % sample == 0:
                    self._sample(buf, start, end, now)
            elif not self.ready.done() and buf.find(b"event: welcome", start, end) >= 0:
                self.ready.set_result(None)
            elif buf.find(_CLOSE, start, end) >= 0:
                self._closed_by_server(buf, start, end)
        self.buf = buf[pos:]
        got = count - self.count
        if got:
            self.count = count
            tally.frames += got
            tally.shared.value += got
            tally.last_rx = now
            if not tally.first_rx:
                tally.first_rx = now

    def _accepted(self) -> None:
        """Ready comes with the `welcome` event, not with the head."""

    def _closed_by_server(self, buf: bytes, start: int, end: int) -> None:
        i = buf.find(b'"code":', start, end)
        j = buf.find(b",", i, end)
        code = int(buf[i + 7 : j]) if i >= 0 and j > i else 1005
        self.close_code = code
        self.tally.close_codes[code] = self.tally.close_codes.get(code, 0) + 1
        if self.transport is not None:
            self.transport.close()
        if not self.closed.done():
            self.closed.set_result(None)

    def ack(self) -> None:
        """Acks go to POST /sse/ops on SSE: not sent by the load client."""
