"""Static files shipped in a package and served from memory: the demo, its client, the
operators' page. Read once, when made; served with a strong ETag, so a browser
revalidates after `max-age` and gets a 304 while the file is unchanged."""

from __future__ import annotations

import hashlib
from importlib import resources

from aiohttp import ETag, web

__all__ = ["Asset"]

#: Long enough to spare repeat loads, short enough that an upgrade reaches pages soon.
_CACHE_CONTROL = "public, max-age=300"


class Asset:
    def __init__(self, package: str, name: str, content_type: str) -> None:
        self.body = resources.files(package).joinpath(name).read_bytes()
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
