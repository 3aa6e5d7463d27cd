"""An SSE client on a plain socket: sends what it is told, parses the event stream.

Every event's `data` is checked against the protocol schema, as WebSocket frames are
(tests.support.schema): the two transports carry the same JSON.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from tests.support.schema import check_server_frame


@dataclass
class Event:
    name: str
    id: str | None
    data: dict[str, Any]


def request(target: str, *headers: str, version: str = "1.1") -> bytes:
    """A `GET` request head for `target` with extra header lines."""
    lines = [f"GET {target} HTTP/{version}", "Host: x", *headers, "", ""]
    return "\r\n".join(lines).encode()


class SseClient:
    """One stream: `open()` reads the response head; `event()` the next event."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.comments: list[str] = []
        self.retry: int | None = None

    @classmethod
    async def open(cls, port: int, target: str, *headers: str) -> SseClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        writer.write(request(target, *headers))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        client.status = int(status_line.split()[1])
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                client.headers[name.strip().lower()] = value.strip()
        if client.status != 200:
            client.body = await asyncio.wait_for(reader.read(), 5)
        return client

    def refusal(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value

    async def event(self, timeout: float = 3.0) -> Event:
        """The next event (comments and `retry:` are noted and skipped)."""
        name, event_id, data = "message", None, []
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.reader.readline()
                if not raw:
                    raise EOFError("the stream ended")
                line = raw.decode().rstrip("\n")
                if not line:
                    if data:
                        text = "\n".join(data)
                        payload = json.loads(text)
                        if name != "close":
                            check_server_frame(text)
                        assert payload["event"] == name, (name, payload)
                        return Event(name, event_id, payload)
                    name, event_id = "message", None
                    continue
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "":
                    self.comments.append(value)
                elif field == "retry":
                    self.retry = int(value)
                elif field == "event":
                    name = value
                elif field == "id":
                    event_id = value
                elif field == "data":
                    data.append(value)

    async def notification(self, timeout: float = 3.0) -> Event:
        event = await self.event(timeout)
        assert event.name == "notification", event
        return event

    async def nothing(self, within: float = 0.3) -> None:
        try:
            event = await self.event(within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event {event}")

    async def ended(self, timeout: float = 3.0) -> bytes:
        """What is left before the server closes the stream."""
        return await asyncio.wait_for(self.reader.read(), timeout)

    def close(self) -> None:
        self.writer.close()
