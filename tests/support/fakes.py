"""Fakes for unit tests, where the real thing would need a socket."""

from __future__ import annotations

from collections.abc import Iterable


class FakeTransport:
    """The asyncio transport surface a `Session` uses, recording writes instead of sending."""

    def __init__(self, buffered: int = 0) -> None:
        self.writes: list[list[bytes]] = []
        self.buffered = buffered
        self.closing = False
        self.aborted = False

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview], /) -> None:
        self.writes.append([bytes(chunk) for chunk in list_of_data])

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.aborted = self.closing = True
