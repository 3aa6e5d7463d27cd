"""A stand-in for the grpc server in the generated registration code.

`add_…Servicer_to_server(servicer, server)` calls two methods of `server`; several parts of
the gRPC edge change what a registration registers (`PublishBatch` answering bytes, the
publish methods in their spans, only a few methods registered by name) by handing the
generated code an object with those two methods that wraps the real server, or another
stand-in. This base hands both on unchanged; each stand-in overrides what it changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc

__all__ = ["ServerStandIn"]


class ServerStandIn:
    """Hands generic and by-name registrations on to `server` (a grpc server or a stand-in)."""

    def __init__(self, server: Any) -> None:
        self._server = server

    def add_generic_rpc_handlers(
        self, handlers: Sequence[grpc.GenericRpcHandler[Any, Any]]
    ) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self._server.add_registered_method_handlers(service, handlers)
