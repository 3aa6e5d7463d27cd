"""Automatic batching: concurrent publishes leave together, as one PublishBatch call.

The gateway admits about one unary call per loop pass (~220 µs each), so many coroutines
each calling `Publish` are capped near 4-5k calls/s; the same notifications in batches
cost a tenth of that per item (see the SDK figures in docs/sdks/python.md). `AutoBatcher.submit`
queues one request and returns a future that gets that item's own outcome: one bad
item fails only its caller.

When to send is group commit, bounded: with no batch in flight, what is queued leaves at
the end of the current loop pass (a quiet publisher waits for nothing); while one is in
flight, new publishes gather until it is answered, or for at most `window` seconds, or
until `max_batch` are queued, whichever comes first. So batches grow with the load and
the latency a batch adds is at most one round trip or `window`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from gateway.api.v1 import gateway_pb2 as pb
from gateway.client.errors import PublishError

__all__ = ["AutoBatcher", "Outcome"]

#: One item's result: the response, or the error its caller gets.
Outcome = pb.PublishResponse | PublishError
SendBatch = Callable[[list[pb.PublishRequest]], Awaitable[list[Outcome]]]


class AutoBatcher:
    def __init__(self, send: SendBatch, window: float, max_batch: int) -> None:
        if window < 0 or max_batch < 1:
            raise ValueError("batch_window must be >= 0 and max_batch >= 1")
        self._send = send
        self._window = window
        self._max_batch = max_batch
        self._queued: list[tuple[pb.PublishRequest, asyncio.Future[pb.PublishResponse]]] = []
        self._timer: asyncio.Handle | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        #: Batches sent so far (one PublishBatch call each, retries aside).
        self.flushes = 0

    def submit(self, request: pb.PublishRequest) -> asyncio.Future[pb.PublishResponse]:
        """Queues `request` (which carries its id); the future resolves with its outcome.

        A caller that stops waiting (cancelled) does not unsend its item: it may still
        be delivered, exactly once.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[pb.PublishResponse] = loop.create_future()
        self._queued.append((request, future))
        if len(self._queued) >= self._max_batch:
            self.flush()
        elif self._timer is None:
            if not self._in_flight:
                self._timer = loop.call_soon(self.flush)
            else:
                self._timer = loop.call_later(self._window, self.flush)
        return future

    def flush(self) -> None:
        """Sends what is queued now, without waiting for the window to end."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._queued:
            return
        batch, self._queued = self._queued, []
        self.flushes += 1
        task = asyncio.get_running_loop().create_task(self._deliver(batch))
        self._in_flight.add(task)
        task.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Task[None]) -> None:
        """A batch came back: what gathered meanwhile leaves now."""
        self._in_flight.discard(task)
        if self._queued and not self._in_flight:
            self.flush()

    async def close(self) -> None:
        """Sends what is queued and waits for every batch in flight to be answered."""
        self.flush()
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _deliver(
        self, batch: list[tuple[pb.PublishRequest, asyncio.Future[pb.PublishResponse]]]
    ) -> None:
        try:
            outcomes = await self._send([request for request, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    # a fresh exception each: one instance raised in many tasks would
                    # collect every task's traceback
                    future.set_exception(_copy(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its caller was cancelled; the item may still be delivered
                continue
            if isinstance(outcome, PublishError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


def _copy(exc: BaseException) -> BaseException:
    if isinstance(exc, PublishError):
        return PublishError(exc.code, exc.message)
    if isinstance(exc, asyncio.CancelledError):
        return asyncio.CancelledError()
    return exc
