"""Which methods the gRPC server registers by name: the hot ones only.

grpc.aio's server (1.62 and later) keeps one pending request-call per method registered
by name and, between any two calls, awaits them all with `asyncio.wait(...,
FIRST_COMPLETED)`, which adds and removes a done-callback on each of them. So every call
of any method pays for every method registered by name, on the event loop, before its
handler runs: with the twelve methods of our three services (the gateway's eight,
health's, reflection's) that was ~61k of the ~487k instructions of a unary `Publish`
(scripts/profile-unary: 487,420 -> 426,184 with only `Publish` and `PublishBatch` by name).

`FewNamed` stands in for the server in the registrations (as `DecodeGuard` does): a
method in `named` is registered by name as the generated code asks; any other is served
by one generic handler that looks it up by its path (a dict), added to the server before
every other generic handler, so the generated code's own generic handlers (the same
methods, unwrapped) never serve one of ours. The API is the same either way: grpc looks
a call's method up among the registered ones first, then asks the generic handlers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc

from gateway.grpc.standin import ServerStandIn

__all__ = ["FewNamed"]


class _ByPath(grpc.GenericRpcHandler):  # type: ignore[type-arg]  # generic only in the stubs
    """Serves the methods not registered by name, by their full path."""

    def __init__(self, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]) -> None:
        self._handlers = handlers

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        return self._handlers.get(handler_call_details.method or "")


class FewNamed(ServerStandIn):
    """Stands in for `server`: registers by name only the methods whose paths are in
    `named` (`/package.Service/Method`), the rest through one generic handler by path."""

    def __init__(self, server: Any, named: frozenset[str]) -> None:
        super().__init__(server)
        self._named = named
        self._by_path: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        # first among the server's generic handlers: the generated code adds its own
        server.add_generic_rpc_handlers([_ByPath(self._by_path)])

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        named = {}
        for name, handler in handlers.items():
            path = f"/{service}/{name}"
            if path in self._named:
                named[name] = handler
            else:
                self._by_path[path] = handler
        if named:
            self._server.add_registered_method_handlers(service, named)
