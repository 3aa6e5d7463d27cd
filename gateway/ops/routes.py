"""Health, readiness and metrics: the aiohttp routes operators and probes call.

`/healthz` says the process serves; `/readyz` says it accepts work (503 while draining, or
while the shared backend is unreachable); `/metrics` is the Prometheus exposition
(`exposition.py`). The app decides which port serves which: the probes go on every port,
`/metrics` on the ops port when there is one.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.ops.exposition import render
from gateway.service import NotificationService

__all__ = ["OpsRoutes"]


class OpsRoutes:
    """Reads the service's state; changes nothing."""

    def __init__(self, service: NotificationService, registry: CollectorRegistry) -> None:
        self._service = service
        self._registry = registry

    def probes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.healthz), web.get("/readyz", self.readyz)]

    def scrape(self) -> list[web.RouteDef]:
        return [web.get("/metrics", self.metrics)]

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if not self._service.accepting:
            return web.json_response({"status": "draining"}, status=503)
        if not self._service.log.healthy:
            return web.json_response({"status": "backend_unreachable"}, status=503)
        return web.json_response({"status": "ready"})

    async def metrics(self, request: web.Request) -> web.Response:
        body, content_type = render(self._registry, request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})
