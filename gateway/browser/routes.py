"""`GET /client.js` (always) and `GET /demo` (only with the demo on; 404 otherwise).

Both files are read once, when the routes are made, and served from memory with a strong
ETag: a browser revalidates after `max-age` and gets a 304 while the file is unchanged.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from aiohttp import ETag, web

__all__ = ["BrowserRoutes"]

#: Long enough to spare repeat loads, short enough that an upgrade reaches pages soon.
_CACHE_CONTROL = "public, max-age=300"


class _Asset:
    def __init__(self, name: str, content_type: str) -> None:
        self.body = resources.files(__package__ or "gateway.browser").joinpath(name).read_bytes()
        self.content_type = content_type
        self._tag = hashlib.sha256(self.body).hexdigest()[:32]
        self.etag = f'"{self._tag}"'

    def response(self, request: web.Request) -> web.Response:
        headers = {"Cache-Control": _CACHE_CONTROL, "ETag": self.etag}
        if self._matches(request.if_none_match):
            return web.Response(status=304, headers=headers)
        return web.Response(
            body=self.body, content_type=self.content_type, charset="utf-8", headers=headers
        )

    def _matches(self, tags: tuple[ETag, ...] | None) -> bool:
        """RFC 9110 If-None-Match: a list of tags, compared weakly (a proxy that
        compressed the body sends W/"..."), or `*`. aiohttp has parsed the header."""
        return tags is not None and any(t.value in (self._tag, "*") for t in tags)


class BrowserRoutes:
    """Serves the browser assets; `demo` says whether `/demo` exists."""

    def __init__(self, demo: bool) -> None:
        self._client = _Asset("client.js", "application/javascript")
        self._demo = _Asset("demo.html", "text/html") if demo else None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/client.js", self.client_js), web.get("/demo", self.demo)]

    async def client_js(self, request: web.Request) -> web.Response:
        return self._client.response(request)

    async def demo(self, request: web.Request) -> web.Response:
        if self._demo is None:
            message = "the demo page is off; start the gateway with GATEWAY_DEMO=1 or --demo"
            return web.json_response({"error": "not_found", "message": message}, status=404)
        return self._demo.response(request)
