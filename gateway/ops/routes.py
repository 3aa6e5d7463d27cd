"""Health, readiness and metrics: the aiohttp routes operators and probes call.

`/healthz` says the process serves; `/readyz` says it accepts work (503 while draining);
`/metrics` is the Prometheus text of the core's counters and a few gauges.
"""

from __future__ import annotations

from aiohttp import web

from gateway.ops.exposition import render
from gateway.service import NotificationService

__all__ = ["OpsRoutes"]


class OpsRoutes:
    """Reads the service's state; changes nothing."""

    def __init__(self, service: NotificationService) -> None:
        self._service = service

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/healthz", self.healthz),
            web.get("/readyz", self.readyz),
            web.get("/metrics", self.metrics),
        ]

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if self._service.accepting:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "draining"}, status=503)

    async def metrics(self, request: web.Request) -> web.Response:
        service = self._service
        gauges = {
            "connections": ("open WebSocket connections", float(len(service.hub))),
            "ready": ("1 while accepting work, 0 while draining", float(service.accepting)),
        }
        return web.Response(
            text=render(service.metrics, gauges), content_type="text/plain", charset="utf-8"
        )
