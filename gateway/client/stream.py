"""A PublishStream call as an object: pipelined `send()`s, each answered by its own response.

The gateway answers a stream's requests in order, so the futures of requests written and
not yet answered wait in a FIFO and one reader task resolves them as responses arrive:
callers need not wait for one answer before sending the next. A bad item ends the whole
stream (`INVALID_ARGUMENT: item N: ...`, the gateway's rule for streams): its caller and
every caller after it get that `PublishError`, and the stream refuses further sends. With
later writes in flight, grpc.aio may give them all INTERNAL "Internal error from Core"
instead of the gateway's status (grpc/grpc#36066: a write that meets the ended call
replaces the status; docs/sdks/python.md, Streams).
Streams are not retried; use `publish()` or `publish_batch()` where that matters.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import grpc
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.client.build import publish_request, with_id
from gateway.client.errors import PublishError

__all__ = ["PublishStream"]


class PublishStream:
    def __init__(self, call: aio.StreamStreamCall[pb.PublishRequest, pb.PublishResponse]) -> None:
        self._call = call
        self._waiting: deque[asyncio.Future[pb.PublishResponse]] = deque()
        self._write_lock = asyncio.Lock()
        self._error: PublishError | None = None
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def publish(self, **fields: Any) -> pb.PublishResponse:
        """Same keywords as `Publisher.publish`; returns this notification's response."""
        return await self.send(publish_request(**fields))

    async def send(self, request: pb.PublishRequest) -> pb.PublishResponse:
        future: asyncio.Future[pb.PublishResponse] = asyncio.get_running_loop().create_future()
        async with self._write_lock:  # the FIFO's order must be the write order
            # checked under the lock: a caller that waited for it may find the stream ended
            self._raise_if_ended()
            self._waiting.append(future)
            try:
                await self._call.write(with_id(request))
            except (aio.AioRpcError, asyncio.InvalidStateError):
                await self._reader  # it records why the call ended and fails every waiter
                # the reader may have emptied the FIFO before this future joined it (the
                # call ended while this caller was queued for the lock)
                if not future.done():
                    self._raise_if_ended()
        return await future

    def _raise_if_ended(self) -> None:
        if self._error is not None:
            raise PublishError(self._error.code, self._error.message)

    async def close(self) -> None:
        """Says no more requests are coming and waits for the answers still due."""
        with contextlib.suppress(aio.AioRpcError, asyncio.InvalidStateError):
            await self._call.done_writing()
        await self._reader

    async def _read(self) -> None:
        try:
            async for response in self._call:
                if self._waiting:
                    future = self._waiting.popleft()
                    if not future.done():  # its caller may have given up waiting
                        future.set_result(response)
            code = grpc.StatusCode.UNKNOWN
            message = "the stream ended before answering"
        except aio.AioRpcError as exc:
            code, message = exc.code(), exc.details() or ""
        except asyncio.CancelledError:
            code, message = grpc.StatusCode.CANCELLED, "the stream was cancelled"
        self._error = PublishError(code, message)
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(PublishError(code, message))
