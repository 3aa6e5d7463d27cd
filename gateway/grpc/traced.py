"""The publish RPCs inside `publish` spans, with tracing on: their behaviours wrapped once, at
registration.

Not a check in each handler: with tracing off nothing here is in the server at all, so the
servicer pays nothing. Not a server interceptor either: grpc.aio runs an interceptor's
coroutine on every call of every method, and this one then built a new method handler
around the call's metadata, which cost a call ~100k instructions on top of its span
(scripts/profile-unary, tracing on and unsampled: ~611k a call against ~480k off). Here
`TracedMethods` stands in for the server in the registration (as `DecodeGuard` does) and
wraps `Publish` (one span per call), `PublishBatch` (one span per batch) and
`PublishStream` (one span per item: a stream lives for hours, its items are the
publishes); a call reads its caller's `traceparent` from its own metadata. The span is
current while the servicer runs, so the service finds it (`Tracing.traceparent`) and
stores it with each entry; the attributes come from the request and the response, so
nothing here parses a notification twice.

It wraps the methods `DecodeGuard` has guarded, so undecodable bytes are refused inside
the span (its status says ERROR). A call `PublishTokenInterceptor` refuses is answered by
a handler of its own and never runs these behaviours, so callers without a publish token
cannot make spans.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import grpc
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.grpc.standin import ServerStandIn
from gateway.tracing import Tracing

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["TracedMethods"]

_SERVICE = "gateway.api.v1.NotificationGateway"


def _metadata(context: aio.ServicerContext[Any, Any]) -> Sequence[tuple[str, str | bytes]]:
    """The call's metadata: grpc.aio's server gives the (key, value) pairs as a tuple."""
    return cast(Sequence[tuple[str, str | bytes]], context.invocation_metadata() or ())


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


class TracedMethods(ServerStandIn):
    """Stands in for `server` in the registration: the publish methods' behaviours in their
    spans (see the module), every other method and generic handler handed on as it is."""

    # Generic handlers are handed on as they are: grpc looks a method up among the
    # registered ones first, and the publish methods are registered by name, so a generic
    # handler never serves one.

    def __init__(self, server: Any, tracing: Tracing) -> None:
        super().__init__(server)
        self._tracing = tracing

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        if service == _SERVICE:
            handlers = {**handlers}
            for name, wrap in (("Publish", self._publish), ("PublishBatch", self._batch)):
                handler = handlers[name]
                handlers[name] = grpc.unary_unary_rpc_method_handler(
                    wrap(handler.unary_unary),
                    handler.request_deserializer,
                    handler.response_serializer,
                )
            handler = handlers["PublishStream"]
            handlers["PublishStream"] = grpc.stream_stream_rpc_method_handler(
                self._stream(handler.stream_stream),
                handler.request_deserializer,
                handler.response_serializer,
            )
        self._server.add_registered_method_handlers(service, handlers)

    def _publish(self, behavior: Any) -> Any:
        tracing = self._tracing

        async def publish(
            request: pb.PublishRequest, context: aio.ServicerContext[Any, Any]
        ) -> pb.PublishResponse:
            with tracing.publish(_metadata(context)) as span:
                response: pb.PublishResponse = await behavior(request, context)
                _published_one(span, request, response)
                return response

        return publish

    def _batch(self, behavior: Any) -> Any:
        tracing = self._tracing

        async def batch(
            request: pb.PublishBatchRequest | bytes, context: aio.ServicerContext[Any, Any]
        ) -> pb.PublishBatchResponse | bytes:
            with tracing.publish(_metadata(context)) as span:
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

    def _stream(self, behavior: Any) -> Any:
        tracing = self._tracing

        async def stream(
            requests: AsyncIterator[pb.PublishRequest], context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[pb.PublishResponse]:
            metadata = _metadata(context)
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
