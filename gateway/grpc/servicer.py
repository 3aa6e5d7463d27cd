"""The gRPC edge: NotificationGateway servicer, publish-token check, and health.

Translates each request into the models (`translate`), calls the service, and maps its
errors to status codes: `Invalid` → INVALID_ARGUMENT, `Conflict` (an id reused for
another notification) → ALREADY_EXISTS, `Unavailable` → UNAVAILABLE.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, cast

import grpc
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.auth import bearer_token
from gateway.closecodes import CloseCode
from gateway.grpc.receipts import ReceiptsApi
from gateway.grpc.response import encode_accepted
from gateway.grpc.standin import ServerStandIn
from gateway.grpc.translate import (
    BATCH_FROM_BYTES,
    batch_inputs,
    publish_input,
    publish_inputs,
)
from gateway.grpc.types_api import TypesApi
from gateway.log import AppendResult
from gateway.models import MAX_BATCH_ITEMS, MAX_RECIPIENTS, Invalid, PublishItem, check_identifier
from gateway.service import Conflict, NotificationService, Unavailable

__all__ = ["GatewayServicer", "PublishTokenInterceptor", "register"]

_MAX_REASON_BYTES = 120  # RFC 6455: a close frame's payload is at most 125 bytes
_INVALID: int = grpc.StatusCode.INVALID_ARGUMENT.value[0]
_ALREADY_EXISTS: int = grpc.StatusCode.ALREADY_EXISTS.value[0]
_UNAVAILABLE: int = grpc.StatusCode.UNAVAILABLE.value[0]


class GatewayServicer(pb_grpc.NotificationGatewayServicer):
    def __init__(self, service: NotificationService) -> None:
        self._service = service
        self._receipts = ReceiptsApi(service.receipts)
        self._types = TypesApi(service.types)  # the type registry (issue 16)

    async def _publish(self, request: pb.PublishRequest) -> pb.PublishResponse:
        started = time.perf_counter()
        metrics = self._service.metrics
        try:
            item = publish_input(request)
            result = await self._service.publish(item)
            metrics.publish_latency_seconds.observe(time.perf_counter() - started)
        except Invalid:
            metrics.rejected_invalid += 1
            raise
        except Unavailable:
            metrics.rejected_unavailable += 1
            raise
        return pb.PublishResponse(
            id=item.notification.id, cursor=result.cursor, delivered=result.delivered
        )

    async def Publish(
        self, request: pb.PublishRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.PublishResponse:
        try:
            return await self._publish(request)
        except Invalid as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Conflict as exc:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))
        except Unavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        raise AssertionError("unreachable: abort raises")

    async def PublishBatch(
        self, request: pb.PublishBatchRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.PublishBatchResponse:
        """The generated API's form; the server is registered with `publish_batch_encoded`."""
        inputs, accepted, published = await self._batch(request, context)
        return _response(inputs, accepted, published)

    async def publish_batch_encoded(
        self, request: pb.PublishBatchRequest, context: aio.ServicerContext[Any, Any]
    ) -> bytes:
        """`PublishBatch` answered with the response's bytes (`register`): an accepted
        batch's response is encoded by hand (response.py), anything else through upb."""
        return _encoded(*await self._batch(request, context))

    async def publish_batch_bytes(
        self, data: bytes, context: aio.ServicerContext[Any, Any]
    ) -> bytes:
        """`PublishBatch` from the request's bytes to the response's (`register`, with the
        compiled module): the common items are read in C (`translate.batch_inputs`)."""
        started = time.perf_counter()
        try:
            inputs = batch_inputs(data)
        except Invalid as exc:  # undecodable, or too few or many items: the whole call
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return _encoded(*await self._outcomes(inputs, started))

    async def _batch(
        self, request: pb.PublishBatchRequest, context: aio.ServicerContext[Any, Any]
    ) -> tuple[
        list[PublishItem | Invalid],
        list[PublishItem],
        list[AppendResult | Invalid | Conflict] | list[Unavailable],
    ]:
        """Each request's translation, the accepted ones, and their outcomes in order."""
        started = time.perf_counter()
        count = len(request.requests)
        if not 1 <= count <= MAX_BATCH_ITEMS:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"requests: 1 to {MAX_BATCH_ITEMS} items (got {count})",
            )
        return await self._outcomes(publish_inputs(request.requests), started)

    async def _outcomes(
        self, inputs: list[PublishItem | Invalid], started: float
    ) -> tuple[
        list[PublishItem | Invalid],
        list[PublishItem],
        list[AppendResult | Invalid | Conflict] | list[Unavailable],
    ]:
        refused = list(map(type, inputs)).count(Invalid)  # in C: usually none
        accepted = (
            cast(list[PublishItem], inputs)
            if not refused
            else [item for item in inputs if not isinstance(item, Invalid)]
        )
        self._service.metrics.rejected_invalid += refused
        return inputs, accepted, await self._publish_many(accepted, started)

    async def _publish_many(
        self, items: list[PublishItem], started: float
    ) -> list[AppendResult | Invalid | Conflict] | list[Unavailable]:
        if not items:
            return []
        metrics = self._service.metrics
        try:
            outcomes = await self._service.publish_many(items)
        except Unavailable as exc:
            metrics.rejected_unavailable += len(items)
            return [exc] * len(items)
        elapsed = time.perf_counter() - started
        # counted in C (the service makes these classes, never subclasses of them)
        invalid = list(map(type, outcomes)).count(Invalid)
        metrics.rejected_invalid += invalid
        if len(outcomes) > invalid:  # the accepted items share the call's latency
            metrics.publish_latency_seconds.observe(elapsed, len(outcomes) - invalid)
        return outcomes

    async def PublishStream(
        self,
        request_iterator: AsyncIterator[pb.PublishRequest],
        context: aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.PublishResponse]:
        index = 0
        async for request in request_iterator:
            try:
                yield await self._publish(request)
            except Invalid as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"item {index}: {exc}")
            except Conflict as exc:
                await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"item {index}: {exc}")
            except Unavailable as exc:
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"item {index}: {exc}")
            index += 1

    async def GetPresence(
        self, request: pb.GetPresenceRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.GetPresenceResponse:
        user_ids = list(request.user_ids)
        try:
            if len(user_ids) > MAX_RECIPIENTS:
                raise Invalid("user_ids", f"at most {MAX_RECIPIENTS} (got {len(user_ids)})")
            for i, user_id in enumerate(user_ids):
                check_identifier(f"user_ids[{i}]", user_id)
            if request.topic:
                check_identifier("topic", request.topic)
        except Invalid as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            counts, total = await self._service.presence(user_ids, request.topic or None)
        except Unavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return pb.GetPresenceResponse(
            users=[pb.UserPresence(user_id=u, connections=n) for u, n in counts.items()],
            total_connections=total,
        )

    async def Disconnect(
        self, request: pb.DisconnectRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.DisconnectResponse:
        code = request.code or CloseCode.DISCONNECTED
        try:
            check_identifier("user_id", request.user_id)
            if code != CloseCode.NORMAL and not 4000 <= code <= 4999:
                raise Invalid("code", f"must be 0, 1000 or 4000-4999 (got {code})")
            if len(request.reason.encode()) > _MAX_REASON_BYTES:
                raise Invalid("reason", f"at most {_MAX_REASON_BYTES} bytes of UTF-8")
        except Invalid as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            closed = await self._service.disconnect(request.user_id, code, request.reason)
        except Unavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return pb.DisconnectResponse(closed=closed)

    # --- receipts (issue 17) ---
    async def GetReceipts(
        self, request: pb.GetReceiptsRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.GetReceiptsResponse:
        return await self._receipts.get(request, context)

    async def WatchReceipts(
        self, request: pb.WatchReceiptsRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchReceiptsResponse]:
        async for response in self._receipts.watch(request, context):
            yield response

    # --- the type registry (issue 16) ---
    async def ListTypes(
        self, request: pb.ListTypesRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ListTypesResponse:
        return await self._types.list(request, context)


def _encoded(
    inputs: list[PublishItem | Invalid],
    accepted: list[PublishItem],
    published: list[AppendResult | Invalid | Conflict] | list[Unavailable],
) -> bytes:
    """The serialized response: by hand for an accepted batch (response.py), else upb's."""
    # counted in C: every outcome an AppendResult (the service makes that class only)
    if len(accepted) == len(inputs) and list(map(type, published)).count(AppendResult) == len(
        published
    ):
        ids = [item.notification.id for item in accepted]
        encoded = encode_accepted(ids, cast(list[AppendResult], published))
        if encoded is not None:
            return encoded
    return _response(inputs, accepted, published).SerializeToString()


def _response(
    inputs: list[PublishItem | Invalid],
    accepted: list[PublishItem],
    published: list[AppendResult | Invalid | Conflict] | list[Unavailable],
) -> pb.PublishBatchResponse:
    """The response message: one result per request, in order."""
    # add() builds each result in place; building them apart and passing the list
    # copied every message again (a third of this method's own time per item)
    response = pb.PublishBatchResponse()
    add = response.results.add
    if len(accepted) == len(inputs):  # no refusal to interleave: one loop with no lookups
        for item, outcome in zip(accepted, published, strict=True):
            if isinstance(outcome, AppendResult):
                add(id=item.notification.id, cursor=outcome.cursor, delivered=outcome.delivered)
            else:
                add(code=_code(outcome), message=str(outcome))
        return response
    outcomes = iter(published)
    for given in inputs:
        if isinstance(given, Invalid):
            add(code=_INVALID, message=str(given))
            continue
        outcome = next(outcomes)
        if isinstance(outcome, AppendResult):
            add(id=given.notification.id, cursor=outcome.cursor, delivered=outcome.delivered)
        else:
            add(code=_code(outcome), message=str(outcome))
    return response


def register(servicer: GatewayServicer, server: Any) -> None:
    """Add `servicer` to `server` (a grpc server, or a stand-in such as `DecodeGuard`) with
    the generated code, `PublishBatch` registered to answer the bytes it encoded itself
    (`publish_batch_encoded`: grpc then serializes nothing) and, with the compiled module,
    to take the request's bytes (`publish_batch_bytes`: upb parses only what C declines)."""
    pb_grpc.add_NotificationGatewayServicer_to_server(servicer, _EncodedBatch(servicer, server))  # type: ignore[no-untyped-call]


class _EncodedBatch(ServerStandIn):
    """Stands in for the server in the generated registration: hands every method on as
    it is but `PublishBatch`, whose behaviour returns bytes and has no serializer. (The
    generic handler, consulted only for a method not registered by name, is left as the
    generated code made it: its `PublishBatch` answers the message, which is as right.)"""

    def __init__(self, servicer: GatewayServicer, server: Any) -> None:
        super().__init__(server)
        self._servicer = servicer

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        batch = handlers["PublishBatch"]
        if BATCH_FROM_BYTES:  # no deserializer: the behaviour reads the bytes itself
            encoded = grpc.unary_unary_rpc_method_handler(
                self._servicer.publish_batch_bytes, None, None
            )
        else:
            encoded = grpc.unary_unary_rpc_method_handler(
                self._servicer.publish_batch_encoded, batch.request_deserializer, None
            )
        self._server.add_registered_method_handlers(service, {**handlers, "PublishBatch": encoded})


def _code(refusal: Invalid | Conflict | Unavailable) -> int:
    """The status code a refused batch item carries."""
    if isinstance(refusal, Invalid):
        return _INVALID
    if isinstance(refusal, Conflict):
        return _ALREADY_EXISTS
    return _UNAVAILABLE


class PublishTokenInterceptor(aio.ServerInterceptor):  # type: ignore[type-arg]
    """Refuses calls without `authorization: Bearer <token>` naming one of `tokens`."""

    def __init__(self, tokens: frozenset[str], exempt_prefixes: tuple[str, ...]) -> None:
        self._tokens = [token.encode() for token in tokens]
        self._exempt = exempt_prefixes

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method = handler_call_details.method or ""
        if method.startswith(self._exempt) or self._authorized(handler_call_details):
            return await continuation(handler_call_details)
        return _unauthenticated_handler(await continuation(handler_call_details))

    def _authorized(self, details: grpc.HandlerCallDetails) -> bool:
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                token = bearer_token(value.decode() if isinstance(value, bytes) else value)
                if token is not None:
                    given = token.encode()
                    # compare against every token so timing says nothing about which matched
                    return sum(hmac.compare_digest(given, t) for t in self._tokens) > 0
        return False


def _unauthenticated_handler(
    handler: grpc.RpcMethodHandler[Any, Any] | None,
) -> grpc.RpcMethodHandler[Any, Any]:
    message = "send metadata 'authorization: Bearer <token>' with a valid publish token"

    async def unary(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def stream(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    if handler is None:
        return grpc.unary_unary_rpc_method_handler(unary)
    deserializer = handler.request_deserializer
    serializer = handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(stream, deserializer, serializer)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(stream, deserializer, serializer)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(unary, deserializer, serializer)
    return grpc.unary_unary_rpc_method_handler(unary, deserializer, serializer)
