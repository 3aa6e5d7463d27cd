"""What aiohttp answers on the WebSocket port for requests the protocol hands over.

The protocol (protocol.py) keeps `GET /ws` over HTTP/1.1 as the first request on its
connection; everything else is aiohttp's. These are the two rules aiohttp needs for that:
a `/ws` that reached it is refused with a reason, and its responses close their connection.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["close_after", "routes"]


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
