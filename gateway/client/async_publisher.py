"""The asyncio publisher: unary publishes, batches and streams over one grpc.aio channel.

async with AsyncPublisher("127.0.0.1:50051", auto_batch=True) as pub:
    reply = await pub.publish(users=["alice"], type="order.shipped", data={"order": 42})

Every request gets an idempotency key here when the caller gave none, so `UNAVAILABLE`
(a draining gateway, one not started yet, a dropped connection) is retried with backoff
under a `RetryPolicy` without any risk of delivering a notification twice: the gateway
answers a repeated id with the first cursor and delivers nothing. Every refusal raises
`PublishError` with the gRPC code and the gateway's message. With `auto_batch=True`,
concurrent `publish()` calls share PublishBatch calls (see `batcher.py`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import grpc
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.client.backoff import RetryPolicy
from gateway.client.batcher import AutoBatcher, Outcome
from gateway.client.build import as_request, check_address, publish_request, with_id
from gateway.client.errors import PublishError
from gateway.client.receipts import watch_receipts
from gateway.client.stream import PublishStream
from gateway.contract import MAX_BATCH_ITEMS

__all__ = ["AsyncPublisher", "PublisherStats"]

_UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
_UNAVAILABLE_CODE = _UNAVAILABLE.value[0]
#: gRPC's own reconnect backoff starts at 1 s and grows to 120 s; while it waits, calls
#: fail at once with UNAVAILABLE, and our retries would be spent before it tried again.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


@dataclass(slots=True)
class PublisherStats:
    """What this publisher sent: calls made (retries included) and items they carried."""

    rpcs: int = 0
    items: int = 0
    retries: int = 0
    auto_batches: int = 0


class AsyncPublisher:
    """Publishes to one gateway address (a replica or a load balancer in front of many).

    `token` is sent as `authorization: Bearer <token>`; `timeout` bounds each try and
    `retry` how often and how long `UNAVAILABLE` is retried. With `auto_batch`, concurrent
    publishes share PublishBatch calls of at most `max_batch`; while one batch is in
    flight, the next gathers for at most `batch_window` seconds (see `batcher.py`).
    """

    def __init__(
        self,
        target_address: str,
        token: str | None = None,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        auto_batch: bool = False,
        batch_window: float = 0.002,
        max_batch: int = 500,
    ) -> None:
        check_address(target_address)
        if not 1 <= max_batch <= MAX_BATCH_ITEMS:
            raise ValueError(f"max_batch must be 1 to {MAX_BATCH_ITEMS}")
        self._address = target_address
        self._credentials = credentials
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._channel: aio.Channel | None = None
        self._stub: pb_grpc.NotificationGatewayStub | None = None
        self._batcher = (
            AutoBatcher(self._send_batch, batch_window, max_batch) if auto_batch else None
        )
        self._stats = PublisherStats()
        self._closed = False

    @property
    def stats(self) -> PublisherStats:
        """Counters of what was sent: calls, items, retries, auto-batches."""
        if self._batcher is not None:
            self._stats.auto_batches = self._batcher.flushes
        return self._stats

    # -- the calls ---------------------------------------------------------------

    async def publish(self, **fields: Any) -> pb.PublishResponse:
        """One notification (keywords as `publish_request`); its id, cursor and delivered.

        Raises `PublishError` (INVALID_ARGUMENT naming the field, UNAUTHENTICATED, or
        UNAVAILABLE once the retries are spent) and `ValueError` for a missing target.
        """
        return await self.send(publish_request(**fields))

    async def send(self, request: pb.PublishRequest) -> pb.PublishResponse:
        """`publish` for a request already built (an id is added when it has none)."""
        request = with_id(request)
        if self._closed:
            raise RuntimeError("this AsyncPublisher is closed")
        if self._batcher is not None:
            return await self._batcher.submit(request)
        return await self._unary(request)

    async def publish_batch(
        self, items: Iterable[pb.PublishRequest | Mapping[str, Any]]
    ) -> list[Outcome]:
        """Many notifications, each a request or a dict of `publish` keywords.

        Returns one outcome per item, in order: the response, or the `PublishError`
        that item met (returned, not raised: the others stand). More than 1,000 items
        are sent as several calls.
        """
        requests = [as_request(item) for item in items]
        outcomes: list[Outcome] = []
        for start in range(0, len(requests), MAX_BATCH_ITEMS):
            outcomes += await self._send_batch(requests[start : start + MAX_BATCH_ITEMS])
        return outcomes

    # -- receipts (issue 17) -------------------------------------------------------

    async def get_receipts(self, ids: Sequence[str]) -> list[pb.Receipt]:
        """The receipt of each id, in order (`RECEIPT_STATE_UNKNOWN` for one not tracked).

        Raises `PublishError` (INVALID_ARGUMENT naming the field, FAILED_PRECONDITION when
        the gateway runs without receipts, UNAVAILABLE).
        """
        try:
            response: pb.GetReceiptsResponse = await self._gateway().GetReceipts(
                pb.GetReceiptsRequest(ids=list(ids)), timeout=self._timeout, metadata=self._metadata
            )
        except aio.AioRpcError as exc:
            raise PublishError(exc.code(), exc.details() or "") from exc
        return list(response.receipts)

    def receipts(
        self, *, type_prefix: str = "", ids: Sequence[str] = (), since: str | None = None
    ) -> AsyncIterator[pb.ReceiptUpdate]:
        """The receipt feed: `async for update in pub.receipts(type_prefix="order.")`.

        Reconnects from its last cursor while the gateway is unavailable; resume after a
        restart with `since=` the last `update.cursor` you handled. Raises
        `ReceiptsIncomplete` when updates after `since` are gone (see `client/receipts.py`).
        """
        return watch_receipts(
            self._gateway, self._metadata, type_prefix=type_prefix, ids=ids, since=since
        )

    @contextlib.asynccontextmanager
    async def stream(self) -> AsyncIterator[PublishStream]:
        """A PublishStream call for the block: `await s.publish(...)`, pipelined."""
        call = self._gateway().PublishStream(metadata=self._metadata)
        stream = PublishStream(call, self._ask)
        try:
            yield stream
        finally:
            await stream.close()

    async def _ask(self, request: pb.PublishRequest) -> pb.PublishResponse:
        """One Publish, not retried: how a stream whose status grpc.aio lost learns each
        unanswered item's own answer (stream.py)."""
        self._stats.rpcs += 1
        self._stats.items += 1
        try:
            response: pb.PublishResponse = await self._gateway().Publish(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except aio.AioRpcError as exc:
            raise PublishError(exc.code(), exc.details() or "") from exc
        return response

    # -- retries -----------------------------------------------------------------

    async def _unary(self, request: pb.PublishRequest) -> pb.PublishResponse:
        retries = self._retry.start()
        while True:
            self._stats.rpcs += 1
            self._stats.items += 1
            try:
                response: pb.PublishResponse = await self._gateway().Publish(
                    request, timeout=self._timeout, metadata=self._metadata
                )
                return response
            except aio.AioRpcError as exc:
                if exc.code() == _UNAVAILABLE and await retries.another():
                    self._stats.retries += 1
                    continue
                raise PublishError(exc.code(), exc.details() or "") from exc

    async def _send_batch(self, requests: list[pb.PublishRequest]) -> list[Outcome]:
        """One PublishBatch, then again for the items answered UNAVAILABLE, while allowed."""
        outcomes: list[Outcome | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        retries = self._retry.start()
        while pending:
            self._stats.rpcs += 1
            self._stats.items += len(pending)
            call = pb.PublishBatchRequest(requests=[requests[i] for i in pending])
            try:
                response: pb.PublishBatchResponse = await self._gateway().PublishBatch(
                    call, timeout=self._timeout, metadata=self._metadata
                )
            except aio.AioRpcError as exc:
                failed = [PublishError(exc.code(), exc.details() or "") for _ in pending]
                for i, error in zip(pending, failed, strict=True):
                    outcomes[i] = error
                if exc.code() == _UNAVAILABLE and await retries.another():
                    self._stats.retries += 1
                    continue
                break
            unavailable = []
            for i, result in zip(pending, response.results, strict=True):
                if result.code == 0:
                    outcomes[i] = pb.PublishResponse(
                        id=result.id, cursor=result.cursor, delivered=result.delivered
                    )
                else:
                    outcomes[i] = PublishError.from_code(result.code, result.message)
                    if result.code == _UNAVAILABLE_CODE:
                        unavailable.append(i)
            pending = unavailable
            if pending and await retries.another():
                self._stats.retries += 1
                continue
            break
        return [outcome for outcome in outcomes if outcome is not None]

    # -- the channel -------------------------------------------------------------

    def _gateway(self) -> pb_grpc.NotificationGatewayStub:
        if self._closed:
            raise RuntimeError("this AsyncPublisher is closed")
        if self._stub is None:
            # made on first use, inside the running loop the channel will belong to
            if self._credentials is None:
                self._channel = aio.insecure_channel(self._address, options=_CHANNEL_OPTIONS)
            else:
                self._channel = aio.secure_channel(
                    self._address, self._credentials, options=_CHANNEL_OPTIONS
                )
            self._stub = pb_grpc.NotificationGatewayStub(self._channel)  # type: ignore[no-untyped-call]
        return self._stub

    async def flush(self) -> None:
        """Sends what auto-batching holds and waits until every batch is answered."""
        if self._batcher is not None:
            await self._batcher.close()

    async def close(self) -> None:
        """Flushes auto-batched publishes, then closes the channel; publishing ends here."""
        await self.flush()
        self._closed = True
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = None
            self._stub = None

    async def __aenter__(self) -> Self:
        self._gateway()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
