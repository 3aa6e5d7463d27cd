"""The publishers' port: `GrpcSite`, the gateway's gRPC server, built, bound and stopped.

It exists apart from app.py because the server's assembly has rules of its own, none of
them the wiring's business: only the hot methods registered by name (named.py), the
publish token's interceptor (its refused calls never run a behaviour, so they make no
spans), every service behind `DecodeGuard` and, with tracing on, the publish methods
inside their spans (traced.py), reflection beside health, SO_REUSEPORT only for a host's
own workers, the port probed before binding (grpc's own failure says only "Failed to
bind"), and a drain that ends its connections first (drain.py) so no call in flight is
answered `CANCELLED`."""

from __future__ import annotations

from typing import Any

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer

from gateway.binding import grpc_tls_credentials, probe_port
from gateway.config import ConfigError, Settings
from gateway.grpc.decoding import DecodeGuard
from gateway.grpc.drain import end_connections
from gateway.grpc.named import FewNamed
from gateway.grpc.servicer import GatewayServicer, PublishTokenInterceptor, register
from gateway.grpc.traced import TracedMethods
from gateway.service import NotificationService
from gateway.tracing import Tracing

__all__ = ["NAMED", "SERVICE_NAME", "GrpcSite", "add_services"]

SERVICE_NAME = "gateway.api.v1.NotificationGateway"
#: The methods registered with grpc by name (named.py: each one costs every call); the
#: others are served by path through one generic handler.
NAMED = frozenset({f"/{SERVICE_NAME}/Publish", f"/{SERVICE_NAME}/PublishBatch"})


class GrpcSite:
    """The gRPC server on `settings.grpc_host:grpc_port` (`port` says which once started)."""

    def __init__(
        self,
        settings: Settings,
        service: NotificationService,
        health: HealthServicer,
        tracing: Tracing,
    ) -> None:
        self._settings = settings
        self._service = service
        self._health = health
        self._tracing = tracing
        self._server: aio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        """Bind and serve; a failure part-way leaves what `stop()` needs to clean up."""
        settings = self._settings
        interceptors: list[aio.ServerInterceptor] = []  # type: ignore[type-arg]
        tokens = settings.publish_token_set
        if tokens is not None:
            interceptors.append(PublishTokenInterceptor(tokens, ("/grpc.health.v1.Health/",)))
        # gRPC sets SO_REUSEPORT by default: a second gateway on the same port would bind
        # too and silently take part of the publishes. Off, a taken port is an error. On
        # only for this host's own workers, whose supervisor checked the port is free.
        shared = int(settings.workers > 1)
        server = aio.server(interceptors=interceptors, options=[("grpc.so_reuseport", shared)])
        self._server = server  # stopped by stop() if anything below fails
        add_services(server, GatewayServicer(self._service), self._health, self._tracing)
        await self._health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        host, port = settings.grpc_host, settings.grpc_port
        # Probe first: grpc's own bind failure says only "Failed to bind" (and logs a
        # plain-text line from its C core); the probe knows why.
        if not shared:  # a worker: the supervisor probed it before any worker bound it
            probe_port("grpc_port", host, port)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if settings.grpc_tls_cert_file and settings.grpc_tls_key_file:
                credentials = grpc_tls_credentials(settings)
                self.port = server.add_secure_port(address, credentials)
            else:
                self.port = server.add_insecure_port(address)
        except RuntimeError as exc:  # bound by someone else between the probe and here
            raise ConfigError("grpc_port", f"cannot listen on {address}: {exc}") from None
        await server.start()

    async def stop(self, grace: float | None = None, *, draining: bool = False) -> None:
        """Stop serving; calls in flight get `grace` seconds (None: cancelled at once).
        `draining`: end the clients' connections first (fault path 4, issue 15)."""
        if self._server is None:
            return
        if draining:
            end_connections(self.port)
        await self._server.stop(grace)


def add_services(
    server: Any, servicer: GatewayServicer, health_servicer: HealthServicer, tracing: Tracing
) -> None:
    """The gateway's, health's and reflection's methods, added to `server` (a grpc server
    not yet started, or a stand-in): only `NAMED` registered by name (named.py), every
    method through `DecodeGuard` (undecodable bytes are INVALID_ARGUMENT) and, with
    tracing on, the publish methods inside their spans (traced.py: calls the publish
    token's interceptor refuses are answered by a handler of its own and make none)."""
    base = FewNamed(server, NAMED)
    guarded = DecodeGuard(TracedMethods(base, tracing) if tracing.on else base)
    register(servicer, guarded)  # PublishBatch answers bytes it encoded itself
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, guarded)
    # `grpcurl list` and `describe` work without the .proto (behind the publish token
    # when one is set: the schema is no secret, but nothing is served unasked)
    names = (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(ReflectionServicer(names), guarded)
