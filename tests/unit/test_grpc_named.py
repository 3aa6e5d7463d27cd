"""gateway/grpc/named.py: only the hot methods are registered with grpc by name (each one
costs every call on grpc.aio's server), every other method is served by its path through
one generic handler that comes before the generated code's own."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from gateway.flush import FlushScheduler
from gateway.grpc.named import FewNamed
from gateway.grpc.servicer import GatewayServicer
from gateway.grpc.site import NAMED, SERVICE_NAME, add_services
from gateway.hub import Hub
from gateway.log.memory import MemoryLog
from gateway.service import NotificationService
from gateway.tracing import OFF


class Recorder:
    """Takes registrations as a grpc server does before it starts, and resolves a method
    as its `_MethodResolver` does: registered by name first, then each generic handler."""

    def __init__(self) -> None:
        self.named: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        self.generic: list[grpc.GenericRpcHandler[Any, Any]] = []

    def add_generic_rpc_handlers(
        self, handlers: Sequence[grpc.GenericRpcHandler[Any, Any]]
    ) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self.named.update({f"/{service}/{name}": h for name, h in handlers.items()})

    def first_generic(self, path: str) -> grpc.RpcMethodHandler[Any, Any] | None:
        return self.generic[0].service(_Details(path))


class _Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def _unary(request: Any, context: Any) -> Any:
    return request


def test_only_the_named_paths_are_registered_by_name_the_rest_by_path() -> None:
    server = Recorder()
    few = FewNamed(server, frozenset({"/s.S/Hot"}))
    handlers = {name: grpc.unary_unary_rpc_method_handler(_unary) for name in ("Hot", "Cold")}
    # as generated code registers: its own generic handler first, then by name
    generated = grpc.method_handlers_generic_handler("s.S", handlers)
    few.add_generic_rpc_handlers([generated])
    few.add_registered_method_handlers("s.S", handlers)
    assert server.named == {"/s.S/Hot": handlers["Hot"]}
    # ours answers before the generated one, with the handler as it was handed on
    assert server.generic[1] is generated
    assert server.first_generic("/s.S/Cold") is handlers["Cold"]
    assert server.first_generic("/s.S/Hot") is None  # grpc found it by name already
    assert server.first_generic("/s.S/Other") is None


def test_the_gateway_names_publish_and_publish_batch_and_serves_every_other_method() -> None:
    service = NotificationService(
        MemoryLog(),
        Hub(),
        FlushScheduler(asyncio.new_event_loop()),
        max_notification_bytes=64 * 1024,
        max_connections=10,
        max_connections_per_user=2,
    )
    server = Recorder()
    add_services(server, GatewayServicer(service), HealthServicer(), OFF)
    assert (
        set(server.named)
        == NAMED
        == {
            f"/{SERVICE_NAME}/Publish",
            f"/{SERVICE_NAME}/PublishBatch",
        }
    )
    others = [
        f"/{SERVICE_NAME}/{name}"
        for name in (
            "PublishStream",
            "GetPresence",
            "Disconnect",
            "GetReceipts",
            "WatchReceipts",
            "ListTypes",
        )
    ]
    others += [f"/{health.SERVICE_NAME}/{name}" for name in ("Check", "Watch")]
    others += [f"/{reflection.SERVICE_NAME}/ServerReflectionInfo"]
    for path in others:
        assert server.first_generic(path) is not None, path
