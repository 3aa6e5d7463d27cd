"""`GET /types`: the type registry as frontends discover it (every type, its schema and
metadata), with the registry's hash as a strong ETag so a client polls with a 304.

Without a registry it answers an empty list in mode `off`: a frontend can always ask.
The body is built once per registry (a reload changes the hash), not per request. A page
served from another origin may read it when that origin may connect at all: any origin
without `GATEWAY_ALLOWED_ORIGINS`, else the listed ones (CORS).
"""

from __future__ import annotations

import json

from aiohttp import web

from gateway.types import Snapshot, TypeRegistry

__all__ = ["TypesRoute"]

_EMPTY = Snapshot({}, {})


class TypesRoute:
    def __init__(
        self, registry: TypeRegistry | None, allowed_origins: frozenset[str] | None
    ) -> None:
        self._registry = registry
        self._origins = allowed_origins
        self._cached: tuple[str, bytes] = ("", b"")

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/types", self.types)]

    async def types(self, request: web.Request) -> web.Response:
        registry = self._registry
        snapshot = registry.snapshot if registry is not None else _EMPTY
        mode = registry.mode if registry is not None else "off"
        tag = f"{snapshot.hash}-{mode}"
        headers = {"ETag": f'"{tag}"', "Cache-Control": "no-cache"}
        origin = request.headers.get("Origin")
        if self._origins is None:
            headers["Access-Control-Allow-Origin"] = "*"
        elif origin in self._origins:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
        headers["Access-Control-Expose-Headers"] = "ETag"
        matches = request.if_none_match
        if matches is not None and any(t.value in (tag, "*") for t in matches):
            return web.Response(status=304, headers=headers)
        if self._cached[0] != tag:
            document = {"hash": snapshot.hash, "mode": mode, **snapshot.document()}
            self._cached = (tag, json.dumps(document, ensure_ascii=False).encode())
        return web.Response(
            body=self._cached[1], content_type="application/json", charset="utf-8", headers=headers
        )
