"""A PublishStream call as an object: pipelined `send()`s, each answered by its own response.

The gateway answers a stream's requests in order, so the requests written and not yet
answered wait in a FIFO and one reader task resolves their futures as responses arrive:
callers need not wait for one answer before sending the next. A bad item ends the whole
stream (`INVALID_ARGUMENT: item N: ...`, the gateway's rule for streams): its caller and
every caller after it get that `PublishError`, and the stream refuses further sends.
Streams are not retried; use `publish()` or `publish_batch()` where that matters.

grpc.aio hides that status when later writes are in flight (grpc/grpc#36066, open in
grpcio 1.85): a write that meets the call the gateway has just ended makes the client
replace the gateway's status with INTERNAL "Internal error from Core", so the bad item's
caller would not learn which field was wrong. Nothing public in grpc.aio recovers the
status, but the gateway can say it again: every item leaves with an id (`with_id`), and a
publish that repeats an id with the same target and content answers the first cursor
(no conflict, nothing delivered again). So on exactly that status the reader asks again
with one unary Publish per unanswered item, in write order, and stops at the first
refusal (`_settle`):
- An item the stream published but whose answer was lost answers its first cursor
  (`delivered` is 0, as for any repeat); its caller gets that response.
- The bad item is refused again, with the same code and message (prefixed `item N: `,
  N its place on this stream, as the gateway's stream status says); its caller gets it.
- Every later caller gets that same error, as the gateway's status would have told them:
  the gateway stopped reading at the bad item, so they were not published, and they must
  not be now (a caller may rely on nothing after a refused item being published).
An item the gateway never read because the stream ended for a reason of its own (a
drain, a dropped connection) while writes were in flight gets its unary Publish's
answer: published, after every item before it, if the gateway accepts it now. That is a
true answer for its caller and keeps the stream's order; refusing it instead would need
the reason grpc.aio dropped. When every unanswered item was answered, that reason stays
unknown, and later sends get INTERNAL saying so. Asking again costs one unary call per
unanswered item, only on this status; they are not retried (streams are not).
Simpler ways fall short: awaiting each answer before the next write gives up
pipelining; asking only about the first unanswered item fails when that one's answer
was merely lost; reading the real status needs grpc.aio's private API.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import grpc
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.client.build import publish_request, with_id
from gateway.client.errors import PublishError

__all__ = ["Ask", "PublishStream"]

#: One unary Publish of a request, raising `PublishError` when the gateway refuses it.
Ask = Callable[[pb.PublishRequest], Awaitable[pb.PublishResponse]]

#: The details grpc.aio's `set_internal_error` gives a call whose write failed in Core
#: (grpc/aio/_call.py `_write`); the gateway never sends INTERNAL with them.
_CORE_DETAILS = "Internal error from Core"
_STATUS_LOST = (
    "the stream ended and grpc.aio replaced the gateway's status with 'Internal error "
    "from Core' (grpc/grpc#36066); every item sent on it was answered: open a new stream"
)


class _Sent(NamedTuple):
    item: int  # its place on the stream: the N of the gateway's "item N: ..."
    request: pb.PublishRequest
    future: asyncio.Future[pb.PublishResponse]


class PublishStream:
    def __init__(
        self, call: aio.StreamStreamCall[pb.PublishRequest, pb.PublishResponse], ask: Ask
    ) -> None:
        self._call = call
        self._ask = ask
        self._waiting: deque[_Sent] = deque()
        self._written = 0
        self._write_lock = asyncio.Lock()
        self._ended = False  # the reader saw the call end and took the FIFO
        self._error: PublishError | None = None  # final once the reader is done
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def publish(self, **fields: Any) -> pb.PublishResponse:
        """Same keywords as `Publisher.publish`; returns this notification's response."""
        return await self.send(publish_request(**fields))

    async def send(self, request: pb.PublishRequest) -> pb.PublishResponse:
        future: asyncio.Future[pb.PublishResponse] = asyncio.get_running_loop().create_future()
        async with self._write_lock:  # the FIFO's order must be the write order
            # checked under the lock: a caller that waited for it may find the stream ended
            if self._ended:
                await asyncio.shield(self._reader)  # its error is final once settled
                self._raise_ended()
            # joined before the reader can take the FIFO, so the reader answers it
            self._waiting.append(_Sent(self._written, with_id(request), future))
            self._written += 1
            try:
                await self._call.write(request)
            except (aio.AioRpcError, asyncio.InvalidStateError):
                # the reader records why the call ended and answers every waiter; shielded
                # so that this caller giving up does not cancel it for the others
                await asyncio.shield(self._reader)
                if not future.done():  # never expected: fail rather than wait forever
                    self._raise_ended()
        return await future

    def _raise_ended(self) -> None:
        error = self._error or PublishError(grpc.StatusCode.UNKNOWN, "the stream ended")
        raise PublishError(error.code, error.message)

    async def close(self) -> None:
        """Says no more requests are coming and waits for the answers still due."""
        with contextlib.suppress(aio.AioRpcError, asyncio.InvalidStateError):
            await self._call.done_writing()
        await self._reader

    async def _read(self) -> None:
        try:
            async for response in self._call:
                if self._waiting:
                    sent = self._waiting.popleft()
                    if not sent.future.done():  # its caller may have given up waiting
                        sent.future.set_result(response)
            error = PublishError(grpc.StatusCode.UNKNOWN, "the stream ended before answering")
        except aio.AioRpcError as exc:
            error = PublishError(exc.code(), exc.details() or "")
        except asyncio.CancelledError:
            error = PublishError(grpc.StatusCode.CANCELLED, "the stream was cancelled")
        self._ended = True
        unanswered, self._waiting = self._waiting, deque()
        try:
            if error.code == grpc.StatusCode.INTERNAL and error.message == _CORE_DETAILS:
                error = PublishError(grpc.StatusCode.INTERNAL, _STATUS_LOST)
                error = await _settle(unanswered, self._ask, error)
        except asyncio.CancelledError:
            error = PublishError(grpc.StatusCode.CANCELLED, "the stream was cancelled")
        finally:
            self._error = error
            for sent in unanswered:
                if not sent.future.done():
                    sent.future.set_exception(PublishError(error.code, error.message))


async def _settle(unanswered: deque[_Sent], ask: Ask, lost: PublishError) -> PublishError:
    """Answers `unanswered` from the front by asking again (see the module docstring).

    Returns the first refusal, as `item N: ...`, for it and the items left behind it; or
    `lost` when every item was answered.
    """
    while unanswered:
        sent = unanswered[0]
        try:
            response = await ask(sent.request)
        except PublishError as exc:
            return PublishError(exc.code, f"item {sent.item}: {exc.message}")
        unanswered.popleft()
        if not sent.future.done():
            sent.future.set_result(response)
    return lost
