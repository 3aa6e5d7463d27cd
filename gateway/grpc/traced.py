"""The publish RPCs inside `publish` spans: a server interceptor, installed only with tracing on.

An interceptor rather than a check in each handler: with tracing off it is not in the
server at all, so the servicer pays nothing. It wraps `Publish` (one span per call),
`PublishBatch` (one span per batch) and `PublishStream` (one span per item: a stream lives
for hours, its items are the publishes). The span is current while the servicer runs, so
the service finds it (`Tracing.traceparent`) and stores it with each entry. The caller's
`traceparent` comes from the call's metadata; the attributes come from the request and
the response, so nothing here parses a notification twice.

Behind `PublishTokenInterceptor`: a call it refuses never reaches this one, so callers
without a publish token cannot make spans.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.tracing import Tracing

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["TracingInterceptor"]

_PREFIX = "/gateway.api.v1.NotificationGateway/"
_PUBLISH = _PREFIX + "Publish"
_BATCH = _PREFIX + "PublishBatch"
_STREAM = _PREFIX + "PublishStream"

Metadata = tuple[tuple[str, str | bytes], ...]


def _kind(request: pb.PublishRequest) -> str:
    return request.target.WhichOneof("kind") or "none"


def _published_one(span: Span, request: pb.PublishRequest, response: pb.PublishResponse) -> None:
    """One request's attributes (a Publish call, a PublishStream item), read only when its
    span is sampled: unsampled, nobody keeps them."""
    if span.is_recording():
        Tracing.published(
            span,
            [request.notification.type],
            [_kind(request)],
            [response.cursor],
            response.delivered,
        )


class TracingInterceptor(aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, tracing: Tracing) -> None:
        self._tracing = tracing

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method not in (_PUBLISH, _BATCH, _STREAM):
            return handler
        metadata: Metadata = tuple(handler_call_details.invocation_metadata or ())
        deserializer, serializer = handler.request_deserializer, handler.response_serializer
        if method == _STREAM:
            return grpc.stream_stream_rpc_method_handler(
                self._stream(handler.stream_stream, metadata), deserializer, serializer
            )
        unary = self._publish if method == _PUBLISH else self._batch
        return grpc.unary_unary_rpc_method_handler(
            unary(handler.unary_unary, metadata), deserializer, serializer
        )

    def _publish(self, behavior: Any, metadata: Metadata) -> Any:
        tracing = self._tracing

        async def publish(
            request: pb.PublishRequest, context: aio.ServicerContext[Any, Any]
        ) -> pb.PublishResponse:
            with tracing.publish(metadata) as span:
                response: pb.PublishResponse = await behavior(request, context)
                _published_one(span, request, response)
                return response

        return publish

    def _batch(self, behavior: Any, metadata: Metadata) -> Any:
        tracing = self._tracing

        async def batch(
            request: pb.PublishBatchRequest | bytes, context: aio.ServicerContext[Any, Any]
        ) -> pb.PublishBatchResponse | bytes:
            with tracing.publish(metadata) as span:
                response: pb.PublishBatchResponse | bytes = await behavior(request, context)
                if not span.is_recording():
                    # unsampled (99 calls in 100 at 1%): reading the batch's bytes again for
                    # attributes nobody keeps cost ~1 µs per item, ~5% of the per-user path
                    return response
                # the servicer's registered PublishBatch answers the response's bytes
                results = (
                    pb.PublishBatchResponse.FromString(response)
                    if isinstance(response, bytes)
                    else response
                ).results
                # with the compiled module PublishBatch takes the request's bytes
                items = (
                    pb.PublishBatchRequest.FromString(request)
                    if isinstance(request, bytes)
                    else request
                ).requests
                tracing.published(
                    span,
                    [item.notification.type for item in items],
                    [_kind(item) for item in items],
                    [result.cursor for result in results if result.cursor],
                    sum(result.delivered for result in results),
                )
                return response

        return batch

    def _stream(self, behavior: Any, metadata: Metadata) -> Any:
        tracing = self._tracing

        async def stream(
            requests: AsyncIterator[pb.PublishRequest], context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[pb.PublishResponse]:
            # The servicer reads its requests from `feed`, one that this loop has read
            # first, so each item's span opens only once the item is there.
            feed = _Feed()
            responses = behavior(feed, context).__aiter__()
            async for request in requests:
                feed.put(request)
                with tracing.publish(metadata) as span:
                    response: pb.PublishResponse = await responses.__anext__()
                    _published_one(span, request, response)
                yield response
            async for response in responses:  # the servicer's end (it yields nothing more)
                yield response

        return stream


class _Feed:
    """An async iterator of the requests the stream wrapper hands on, one at a time."""

    def __init__(self) -> None:
        self._next: pb.PublishRequest | None = None

    def put(self, request: pb.PublishRequest) -> None:
        self._next = request

    def __aiter__(self) -> _Feed:
        return self

    async def __anext__(self) -> pb.PublishRequest:
        request, self._next = self._next, None
        if request is None:
            # the wrapper's requests have run out: the servicer's loop ends
            raise StopAsyncIteration
        return request
