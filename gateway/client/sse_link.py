"""The Subscriber's connection over Server-Sent Events, shaped like aiohttp's WebSocket.

`SseLink` reads a `GET /sse` response as events and answers `receive()` with the
`aiohttp.WSMessage`s the Subscriber already understands: each event's `data:` (the JSON a
WebSocket frame carries) as TEXT, the final `close` event as CLOSE with its code and
reason, the end of the stream as CLOSED. `send_str(op)` posts the op to `POST /sse/ops`
for the stream the welcome named. So the Subscriber's one loop (resume, dedup, ping,
refresh, acks, the close-code table) serves both transports.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

__all__ = ["SseLink"]

SUBPROTOCOL = "notifications.v1"


class SseLink:
    def __init__(
        self, response: aiohttp.ClientResponse, http: aiohttp.ClientSession, ops_url: str
    ) -> None:
        self._response = response
        self._http = http
        self._ops_url = ops_url
        self._stream: str | None = None
        self._event = ""
        self._data: list[str] = []
        self.closed = False
        self.close_code: int | None = None
        #: The gateway applies `refresh` on SSE too (what the Subscriber checks on a socket).
        self.protocol = SUBPROTOCOL

    async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage:  # noqa: ASYNC109
        """The next event as a WebSocket message; `TimeoutError` after `timeout` seconds
        (the signature of aiohttp's `ClientWebSocketResponse.receive`, which it stands in for)."""
        if self.closed:
            return aiohttp.WSMessage(aiohttp.WSMsgType.CLOSED, None, None)
        async with asyncio.timeout(timeout):
            while True:
                try:
                    raw = await self._response.content.readline()
                except (aiohttp.ClientError, OSError):
                    raw = b""
                if not raw:  # the stream ended without a close event: a broken line
                    await self.close()
                    return aiohttp.WSMessage(aiohttp.WSMsgType.CLOSED, None, None)
                message = self._line(raw.decode("utf-8").rstrip("\r\n"))
                if message is not None:
                    return message

    def _line(self, line: str) -> aiohttp.WSMessage | None:
        if line:
            if not line.startswith(":"):  # a comment is a keep-alive
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    self._event = value
                elif field == "data":
                    self._data.append(value)
            return None
        name, data = self._event, "\n".join(self._data)
        self._event, self._data = "", []
        if not data:
            return None
        if name == "close":
            close: dict[str, Any] = json.loads(data)
            self.close_code = int(close.get("code", 1006))
            self.closed = True
            return aiohttp.WSMessage(
                aiohttp.WSMsgType.CLOSE, self.close_code, close.get("reason", "")
            )
        if name == "welcome":
            self._stream = json.loads(data).get("stream")
        return aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, data, None)

    async def send_str(self, text: str) -> None:
        """Posts one op for this stream (its reply arrives on the stream)."""
        if self._stream is None or self.closed:
            return
        body = json.dumps({"stream": self._stream, "ops": [json.loads(text)]})
        async with self._http.post(
            self._ops_url, data=body, headers={"Content-Type": "text/plain"}
        ) as reply:
            await reply.read()

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        if not self.closed:
            self.closed = True
        self._response.close()
        return True
