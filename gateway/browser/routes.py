"""`GET /client.js` (always) and `GET /demo` (only with the demo on; 404 otherwise).

Both files are read once, when the routes are made, and served from memory with a strong
ETag (`gateway.assets`).
"""

from __future__ import annotations

from aiohttp import web

from gateway.assets import Asset

__all__ = ["BrowserRoutes"]

_PACKAGE = __package__ or "gateway.browser"


class BrowserRoutes:
    """Serves the browser assets; `demo` says whether `/demo` exists."""

    def __init__(self, demo: bool) -> None:
        self._client = Asset(_PACKAGE, "client.js", "application/javascript")
        self._demo = Asset(_PACKAGE, "demo.html", "text/html") if demo else None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/client.js", self.client_js), web.get("/demo", self.demo)]

    async def client_js(self, request: web.Request) -> web.Response:
        return self._client.response(request)

    async def demo(self, request: web.Request) -> web.Response:
        if self._demo is None:
            message = "the demo page is off; start the gateway with GATEWAY_DEMO=1 or --demo"
            return web.json_response({"error": "not_found", "message": message}, status=404)
        return self._demo.response(request)
