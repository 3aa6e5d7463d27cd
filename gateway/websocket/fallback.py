"""What aiohttp answers on the WebSocket port for requests the protocol hands over.

The protocol (protocol.py) keeps `GET /ws` over HTTP/1.1 as the first request on its
connection; everything else is aiohttp's. These are the rules aiohttp needs for that:
a `/ws` that reached it is refused with a reason, its responses close their connection,
and a request it refuses costs one warning line, not a traceback (`RequestErrorLog`).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["RequestErrorLog", "close_after", "routes"]


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


def routes() -> list[web.RouteDef]:
    return [web.get("/ws", not_first)]


async def not_first(request: web.Request) -> web.Response:
    """`/ws` reached aiohttp: an HTTP/1.0 request, or one pipelined behind another."""
    message = "a WebSocket upgrade is an HTTP/1.1 GET, the first request on its connection"
    return web.json_response({"error": "bad_handshake", "message": message}, status=400)


async def close_after(request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp's responses close their connection (an `on_response_prepare` hook).

    A connection handed to aiohttp stays aiohttp's: without this, a client that reuses
    it for `/ws` (aiohttp's ClientSession does) would miss the WebSocket path.
    Health probes and scrapes open a connection per request anyway.
    """
    response.force_close()
    response.headers["Connection"] = "close"  # the hook runs after aiohttp set its own
