"""Undecodable request bytes answer INVALID_ARGUMENT, not grpc's UNKNOWN and a traceback.

grpc calls a method's request deserializer before any servicer code runs, and an exception
there (a truncated varint, a string that is not UTF-8, nesting past protobuf's recursion
limit) is logged with a traceback and answered `UNKNOWN`: the caller is told nothing about
its own mistake. So every service is registered through `DecodeGuard`, which stands in for
the server in the generated `add_*_to_server` functions: each method's deserializer returns
an `Undecodable` marker instead of raising, and the method is wrapped to answer the marker
with `INVALID_ARGUMENT` (for a request stream, at the message that cannot be read). The
wrapping is done once at registration; a call pays one type check per message.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc import aio

__all__ = ["DecodeGuard", "Undecodable"]


class Undecodable:
    """A request message whose bytes protobuf could not parse, and why."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def message(self) -> str:
        return f"request: not a valid protobuf message ({self.reason})"


def _lenient(parse: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if parse is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except DecodeError as exc:
            return Undecodable(str(exc))

    return deserialize


async def _refuse(marker: Undecodable, context: aio.ServicerContext[Any, Any]) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, marker.message())


async def _checked(
    requests: AsyncIterator[Any], context: aio.ServicerContext[Any, Any]
) -> AsyncIterator[Any]:
    async for request in requests:
        if type(request) is Undecodable:
            await _refuse(request, context)
        yield request


def _guard_unary(behavior: Callable[..., Any], streaming_response: bool) -> Callable[..., Any]:
    if streaming_response and inspect.isasyncgenfunction(behavior):

        async def unary_stream(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            if type(request) is Undecodable:
                await _refuse(request, context)
            async for response in behavior(request, context):
                yield response

        return unary_stream

    async def unary(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        if type(request) is Undecodable:
            await _refuse(request, context)
        return await behavior(request, context)

    return unary


def _guard_streaming(behavior: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behavior):

        async def stream_out(requests: AsyncIterator[Any], context: Any) -> Any:
            async for response in behavior(_checked(requests, context), context):
                yield response

        return stream_out

    async def stream_in(requests: AsyncIterator[Any], context: Any) -> Any:
        return await behavior(_checked(requests, context), context)

    return stream_in


def guard(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """`handler` with a deserializer that cannot raise and a behaviour that refuses its marker."""
    deserialize = _lenient(handler.request_deserializer)
    serialize = handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        behavior = _guard_streaming(_given(handler.stream_stream))
        return grpc.stream_stream_rpc_method_handler(behavior, deserialize, serialize)
    if handler.request_streaming:
        behavior = _guard_streaming(_given(handler.stream_unary))
        return grpc.stream_unary_rpc_method_handler(behavior, deserialize, serialize)
    if handler.response_streaming:
        behavior = _guard_unary(_given(handler.unary_stream), streaming_response=True)
        return grpc.unary_stream_rpc_method_handler(behavior, deserialize, serialize)
    behavior = _guard_unary(_given(handler.unary_unary), streaming_response=False)
    return grpc.unary_unary_rpc_method_handler(behavior, deserialize, serialize)


def _given(behavior: Callable[..., Any] | None) -> Callable[..., Any]:
    if behavior is None:  # grpc's own constructors always set the one the kind needs
        raise TypeError("a method handler without the behaviour its kind needs")
    return behavior


class DecodeGuard:
    """Stands in for `server` in generated `add_*Servicer_to_server(servicer, server)` calls
    and registers every method guarded (see the module's docstring)."""

    def __init__(self, server: Any) -> None:
        """`server`: the grpc server, or a stand-in for it (`traced.TracedMethods`)."""
        self._server = server

    def add_generic_rpc_handlers(
        self, handlers: Sequence[grpc.GenericRpcHandler[Any, Any]]
    ) -> None:
        # grpc looks a method up among the registered ones first, so these serve only
        # methods that generated code did not also register by name below
        self._server.add_generic_rpc_handlers([_GuardedGeneric(h) for h in handlers])

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        guarded = {name: guard(handler) for name, handler in handlers.items()}
        self._server.add_registered_method_handlers(service, guarded)


class _GuardedGeneric(grpc.GenericRpcHandler):  # type: ignore[type-arg]  # generic only in the stubs
    def __init__(self, inner: grpc.GenericRpcHandler[Any, Any]) -> None:
        self._inner = inner

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = self._inner.service(handler_call_details)
        return None if handler is None else guard(handler)
