"""The only wiring: settings → log → hub → service → gRPC server + aiohttp site, one loop.

`Gateway` starts both servers (port 0 picks a free port; `http_port`/`grpc_port` say which)
and drains them: readiness off, new work refused, accepted notifications delivered, every
WebSocket closed with 1001, all within the grace period. `serve.run()` adds signals and uvloop.
What cannot work (a bad key, a port in use) raises `ConfigError` before anything serves.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from typing import Any, Self

from aiohttp import web
from grpc_health.v1._async import HealthServicer

from gateway.binding import bind_error
from gateway.browser.routes import BrowserRoutes
from gateway.browser.types_route import TypesRoute
from gateway.closecodes import CloseCode
from gateway.config import Settings
from gateway.connection.admission import AdmissionPolicy
from gateway.connection.connection import ConnectionContext
from gateway.connection.dispatch import ClientOps
from gateway.connection.heartbeat import Heartbeat
from gateway.flush import CoalescePolicy, FlushScheduler
from gateway.grpc.site import GrpcSite
from gateway.hub import Hub
from gateway.log.base import NotificationLog
from gateway.metrics import Metrics
from gateway.ops.admin import AdminRoutes
from gateway.ops.exposition import make_registry
from gateway.ops.routes import OpsRoutes
from gateway.ops.site import OpsSite
from gateway.receipts.handlers import ack_reader, receipt_handlers
from gateway.service import NotificationService
from gateway.sse.edge import SseEdge
from gateway.sse.routes import SseOpsRoutes
from gateway.tracing import Tracing
from gateway.types.reload import RegistryReloader
from gateway.websocket import fallback
from gateway.websocket.edge import WebSocketEdge
from gateway.websocket.handshake import MAX_HEAD_BYTES
from gateway.websocket.protocol import HANDSHAKE_TIMEOUT
from gateway.wiring import make_log, make_receipts, make_types, make_verifier

__all__ = ["Gateway"]

log = logging.getLogger("gateway")


#: Seconds a worker waits for its log's feed to be live before it listens anyway.
WORKER_LIVE_WAIT = 10.0


async def _until_live(log: NotificationLog, within: float) -> None:
    """Wait until `log` is healthy, for `within` seconds at most.

    A worker shares its ports with its siblings (SO_REUSEPORT): from the moment it listens
    the kernel hands it a share of new connections, which it answers 503 until its feed is
    live, while a live sibling could have taken them (a benchmark's connects met 17-96
    such 503s in 6 of 25 starts). So a worker listens once its log is live. Past `within`
    (Redis down at start) it listens anyway and answers 503 as a single gateway does, so
    that liveness probes still reach it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    # polled: `healthy` is a reading (as readiness takes it), and this runs once, at start
    while not log.healthy and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = make_log(settings)
        # the type registry (issue 16): loaded and checked before anything starts
        self.types = make_types(settings)
        self._types_reloader = (
            RegistryReloader(
                self.types,
                settings.types,
                allow_breaking=settings.types_allow_breaking,
                interval=settings.types_watch_seconds,
            )
            if self.types is not None and settings.types is not None
            else None
        )
        # tracing (issue 19): configured by the standard OTEL_* variables only
        self._backend_kind = "memory" if settings.backend == "memory" else "redis"
        self.tracing = Tracing.from_environ(os.environ, backend=self._backend_kind)
        # the flush scheduler, shared by the service (fan-out counts) and every connection
        metrics = Metrics()
        self.scheduler = FlushScheduler(
            policy=CoalescePolicy(cap=settings.coalesce_ms / 1000), metrics=metrics
        )
        self.service = NotificationService(
            self.log,
            # a sharded log's topic entries come once per shard: the hub indexes by shard
            Hub(self.log.shard_index if self.log.shard_count > 1 else None),
            self.scheduler,
            max_notification_bytes=settings.max_notification_bytes,
            max_connections=settings.max_connections,
            max_connections_per_user=settings.max_connections_per_user,
            receipts=make_receipts(settings, self.types),
            types=self.types,
            tracing=self.tracing,
            metrics=metrics,
        )
        self.health = HealthServicer()
        self.verifier = make_verifier(settings)  # before anything binds: a bad key stops here
        self.registry = make_registry(self.service)
        self.http_port = 0
        self.grpc_port = 0
        #: The ops port when `settings.ops_port` is set (0 before the start and without one).
        self.ops_port = 0
        self._ops: OpsSite | None = None
        self._grpc: GrpcSite | None = None
        self._runner: web.AppRunner | None = None
        self._http: asyncio.AbstractServer | None = None
        self._edge: WebSocketEdge | None = None
        self._sse: SseEdge | None = None  # SSE (issue 18), when settings.sse
        self._heartbeat: Heartbeat | None = None

    @property
    def edge(self) -> WebSocketEdge:
        if self._edge is None:
            raise RuntimeError("the gateway is not started")
        return self._edge

    @property
    def sse(self) -> SseEdge:
        if self._sse is None:
            raise RuntimeError("the gateway is not started, or serves no SSE")
        return self._sse

    async def start(self) -> None:
        """Serve both ports; on any failure, stop what had started and raise."""
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        await self.service.start()
        if settings.workers > 1:  # workers (issue 15)
            await _until_live(self.log, WORKER_LIVE_WAIT)
        if self.service.receipts is not None:  # receipts (issue 17)
            await self.service.receipts.start()
        if self.verifier is not None:
            await self.verifier.start()
        service = self.service
        context = ConnectionContext(
            self.scheduler, settings.send_buffer_bytes, service.detach, service.metrics
        )
        policy = AdmissionPolicy(
            verifier=self.verifier,
            allowed_origins=settings.origins,
            max_topics=settings.max_topics_per_connection,
            topics_required=settings.jwt_topics_required,
            capacity=service.admit,
        )
        client_ops = ClientOps(
            service,
            self.verifier,
            max_topics=settings.max_topics_per_connection,
            topics_required=settings.jwt_topics_required,
            extra=receipt_handlers(service.receipts),  # receipts (issue 17): ack, read
            first=ack_reader(service.receipts),  # and the SDKs' ack frame, read at once
        )
        self._edge = WebSocketEdge(
            service=service,
            context=context,
            policy=policy,
            ops=client_ops,
            max_frame_bytes=settings.max_client_frame_bytes,
            heartbeat=settings.heartbeat_seconds,
            max_pending_handshakes=settings.max_pending_handshakes,
        )
        # Server-Sent Events (issue 18): the same context, admission and ops as /ws
        sse_routes: list[web.RouteDef] = []
        if settings.sse:
            self._sse = SseEdge(
                service=service,
                context=context,
                policy=policy,
                ops=client_ops,
                heartbeat=settings.heartbeat_seconds,
            )
            sse_routes = SseOpsRoutes(self._sse).routes()
        ops = OpsRoutes(self.service, self.registry)
        if settings.ops_port is not None:
            server_log = fallback.RequestErrorLog(logging.getLogger("aiohttp.server"))
            # the operators' page (issue 19): only on the ops port, behind the publish token
            admin = AdminRoutes(self.service, settings.publish_token_set, self._backend_kind)
            routes = [*ops.probes(), *ops.scrape(), *admin.routes()]
            site = OpsSite(routes, server_log, [fallback.json_refusals])
            try:
                await site.start(
                    settings.ops_host, settings.ops_port, reuse_port=settings.workers > 1
                )
            except OSError as exc:
                raise bind_error("ops_port", settings.ops_host, settings.ops_port, exc) from None
            self._ops, self.ops_port = site, site.port
        self._grpc = GrpcSite(settings, service, self.health, self.tracing)
        await self._grpc.start()  # stopped by _stop() if it fails part-way
        self.grpc_port = self._grpc.port
        app = web.Application(
            client_max_size=settings.max_client_frame_bytes, middlewares=[fallback.json_refusals]
        )
        # the probes stay on the public port too: load balancers often see only that one
        public = ops.probes() if self._ops is not None else [*ops.probes(), *ops.scrape()]
        app.add_routes(
            [
                *public,
                *BrowserRoutes(settings.demo).routes(),
                *TypesRoute(self.types, settings.origins).routes(),  # the type registry (issue 16)
                *sse_routes,  # SSE (issue 18)
                *fallback.routes(sse=settings.sse),
            ]
        )
        app.on_response_prepare.append(fallback.close_after)
        self._runner = web.AppRunner(
            # drain() has closed every WebSocket by the time the runner is cleaned up
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=1.0,
            # aiohttp only ever gets complete heads the protocol has read within its limits
            # (websocket/head.py): its own limits are at least as large, so it never refuses
            # what we passed (and logs no traceback for it), and its responses close their
            # connection, so the keep-alive timeout only bounds a client that stops mid-way.
            max_line_size=MAX_HEAD_BYTES,
            max_field_size=MAX_HEAD_BYTES,
            max_headers=MAX_HEAD_BYTES,
            keepalive_timeout=HANDSHAKE_TIMEOUT,
            # no request with a body reaches aiohttp (protocol.py answers 413): nothing to
            # read and drop after a response
            lingering_time=0,
            logger=fallback.RequestErrorLog(logging.getLogger("aiohttp.server")),
        )
        await self._runner.setup()
        handoff = self._runner.server
        if handoff is None:
            raise RuntimeError("aiohttp's runner made no server")
        # One listener: `/ws` upgrades stay in our protocol, other requests go to aiohttp's.
        try:
            self._http = await asyncio.get_running_loop().create_server(
                self._edge.protocol_factory(handoff, self._sse),
                settings.http_host,
                settings.http_port,
                backlog=4096,
                reuse_port=settings.workers > 1 or None,  # workers (issue 15)
            )
        except OSError as exc:
            raise bind_error("http_port", settings.http_host, settings.http_port, exc) from None
        self.http_port = _bound_port([s.getsockname() for s in self._http.sockets])
        # one liveness sweep over every connection, whatever its transport
        self._heartbeat = Heartbeat(self.service.hub, settings.heartbeat_seconds)
        self._heartbeat.start()
        if self._types_reloader is not None:  # the type registry (issue 16)
            self._types_reloader.start()
        metrics_at = (
            f"http://{settings.ops_host}:{self.ops_port}/metrics"
            if self._ops is not None
            else f"http://{settings.http_host}:{self.http_port}/metrics"
        )
        log.info(
            "gateway listening",
            extra={
                "websocket": f"ws://{settings.http_host}:{self.http_port}/ws",
                **(
                    {"sse": f"http://{settings.http_host}:{self.http_port}/sse"}
                    if settings.sse
                    else {}
                ),
                "grpc": f"{settings.grpc_host}:{self.grpc_port}",
                "backend": _redacted(settings.backend),
                "auth": "jwt" if settings.auth_required else "none",
                "metrics": metrics_at,
                **(
                    {"demo": f"http://{settings.http_host}:{self.http_port}/demo"}
                    if settings.demo
                    else {}
                ),
            },
        )
        if settings.metrics_public:
            log.warning(
                "/metrics is served on the public HTTP port; "
                "set GATEWAY_OPS_PORT to serve it on an internal one"
            )

    async def _stop(self, grpc_grace: float | None = None, *, draining: bool = False) -> None:
        """Stop whatever has started (all of it at the end of a drain, part of it after a
        start that failed half-way), so nothing outlives the loop. gRPC calls in flight
        get `grpc_grace` seconds (None: cancelled at once)."""
        if self._types_reloader is not None:
            await self._types_reloader.stop()
        if self._grpc is not None:  # draining: fault path 4 (issue 15), no call CANCELLED
            await self._grpc.stop(grpc_grace, draining=draining)
        if self._http is not None:
            self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._ops is not None:
            await self._ops.stop()
        if self.verifier is not None:
            await self.verifier.close()
        if self.service.receipts is not None:  # receipts (issue 17)
            await self.service.receipts.close()
        await self.log.close()
        await self.tracing.close()

    async def drain(self) -> None:
        """Refuse new work, finish accepted work, close every WebSocket with 1001, stop.

        The gRPC listener stays up until the WebSockets are closed, so health probes see
        NOT_SERVING (not a refused connection) and publishers get a clear UNAVAILABLE.
        Everything happens within `grace_seconds`; what still runs then is cut off.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.grace_seconds

        def left() -> float:
            return max(0.0, deadline - loop.time())

        self.service.accepting = False
        await self.health.enter_graceful_shutdown()
        if self.settings.drain_delay_seconds:
            await asyncio.sleep(self.settings.drain_delay_seconds)
        try:
            async with asyncio.timeout(left()):
                await self.service.wait_idle()
        except TimeoutError:
            log.warning("grace period ended with publishes still in flight")
        if self._heartbeat is not None:
            self._heartbeat.stop()
        # both edges at once: the WebSocket close handshakes and the SSE final events
        closing = [
            edge.close_all(CloseCode.GOING_AWAY, "server shutting down", left())
            for edge in (self._edge, self._sse)
            if edge is not None
        ]
        await asyncio.gather(*closing)
        await self._stop(min(1.0, left()), draining=True)
        log.info("gateway stopped")

    async def reload_types(self, reason: str = "requested") -> bool:
        """Load the type registry's directory again (SIGHUP); False if it was refused or
        there is no registry."""
        if self._types_reloader is None:
            return False
        return await self._types_reloader.reload(reason)

    def request_types_reload(self) -> None:
        """`reload_types` from a signal handler, which cannot await."""
        if self._types_reloader is not None:
            self._types_reloader.request("SIGHUP")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.drain()


#: The password of a URL's userinfo (`//user:password@`).
_PASSWORD = re.compile(r"(//[^/@,:]*:)[^@/]*@")


def _redacted(url: str) -> str:
    """`url` (or each URL of a shard list) without passwords, for the log: a URL with
    several hosts (Sentinel, Cluster, a list) has no single netloc to rebuild."""
    return _PASSWORD.sub(r"\1***@", url)


def _bound_port(addresses: list[Any]) -> int:
    for address in addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("the HTTP site did not bind a TCP port")
