"""What aiohttp answers on the WebSocket port for requests the protocol hands over.

The protocol (protocol.py) keeps `GET /ws` over HTTP/1.1 as the first request on its
connection, and `GET /sse`; everything else is aiohttp's. These are the rules aiohttp
needs for that: a `/ws` or `/sse` that reached it is refused with a reason, a method a
route does not serve is a JSON 405 naming those it does and a path that is no route a
JSON 404 (`json_refusals`; `/sse` and `/ws` have their routes here so that they are
routes to aiohttp, not 404s), its responses
close their connection, and a request it refuses costs one warning line, not a
traceback (`RequestErrorLog`).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

__all__ = ["RequestErrorLog", "close_after", "json_refusals", "routes"]


class RequestErrorLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, with a request it refuses cut to one warning line.

    aiohttp logs each request it cannot parse with a traceback. What reaches it has passed
    llhttp here already, so this is a backstop for where the two parsers differ (aiohttp
    refuses `GET *`, for one). Other exceptions (a bug in a handler) keep their traceback.
    """

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            reason = " ".join(str(exc_info.message).split())[:200]
            self.logger.warning(f"{msg}: %s", *args, reason, **kwargs)
            return
        self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)


def routes(*, sse: bool) -> list[web.RouteDef]:
    """`/ws`, and `/sse` when SSE is on: GET only (a HEAD gets no stream either)."""
    served = [web.get("/ws", not_first, allow_head=False)]
    if sse:
        served.append(web.get("/sse", not_first, allow_head=False))
    return served


async def not_first(request: web.Request) -> web.Response:
    """`GET /ws` or `GET /sse` reached aiohttp: one pipelined behind another request (or,
    for `/ws`, an HTTP/1.0 request)."""
    if request.path == "/sse":
        message = "an SSE stream is a GET, the first request on its connection"
        return web.json_response({"error": "invalid_request", "message": message}, status=400)
    message = "a WebSocket upgrade is an HTTP/1.1 GET, the first request on its connection"
    return web.json_response({"error": "bad_handshake", "message": message}, status=400)


#: How much of an unknown path a 404 names: enough to spot a typo, never a reflected page.
_PATH_SHOWN = 100


@web.middleware
async def json_refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own refusals in JSON like every other refusal here, rather than its plain
    text: a route asked with a method it does not serve is 405 with `Allow` (RFC 9110
    §15.5.6), a path that is no route 404 naming it."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        path = request.path
        shown = path if len(path) <= _PATH_SHOWN else path[:_PATH_SHOWN] + "..."
        body = {"error": "not_found", "message": f"no route for {shown!r} on this port"}
        return web.json_response(body, status=404)
    except web.HTTPMethodNotAllowed as exc:
        allow = ", ".join(sorted(exc.allowed_methods))
        message = f"{request.path} answers {allow} only"
        body = {"error": "method_not_allowed", "message": message}
        return web.json_response(body, status=405, headers={"Allow": allow})


async def close_after(request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp's responses close their connection (an `on_response_prepare` hook).

    A connection handed to aiohttp stays aiohttp's: without this, a client that reuses
    it for `/ws` (aiohttp's ClientSession does) would miss the WebSocket path.
    Health probes and scrapes open a connection per request anyway.
    """
    response.force_close()
    response.headers["Connection"] = "close"  # the hook runs after aiohttp set its own
